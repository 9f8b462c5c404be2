"""The service's HTTP side: :func:`create_app` builds the FastAPI application."""

from callwatch.http.app import create_app

__all__ = ["create_app"]
