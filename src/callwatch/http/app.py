"""The FastAPI application of the live service: health, readiness and metrics.

``create_app(service, api=...)`` keeps the service on ``app.state.service`` (health, readiness,
metrics, settings) and the API's context on ``app.state.api`` (the store, the live feed, the
running callback book), which the API and the pages read through FastAPI dependencies; each
router is included here, one line each.
"""

from __future__ import annotations

from typing import Protocol

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from callwatch import __version__
from callwatch.api import install_api
from callwatch.api.context import ApiContext, api_docs_open_setting
from callwatch.api.live import Broadcaster
from callwatch.http.headers import SecurityHeaders
from callwatch.metrics import CONTENT_TYPE, Metrics
from callwatch.pipeline import CallPipeline
from callwatch.sinks import PartStatus
from callwatch.site import SiteConfig
from callwatch.web import router as pages_router
from callwatch.web.admin import router as admin_router
from callwatch.web.icon import router as icon_router
from callwatch.web.probes import router as probe_pages_router
from callwatch.web.wall import router as wall_router


class ServiceView(Protocol):
    """What the HTTP side needs of the service."""

    metrics: Metrics
    site: SiteConfig
    pipeline: CallPipeline

    def readiness(self) -> dict[str, PartStatus]: ...


def create_app(
    service: ServiceView, *, api: ApiContext | None = None, api_docs: bool | None = None
) -> FastAPI:
    """The application serving ``/healthz``, ``/readyz`` and ``/metrics`` for ``service``, the
    API and the pages, every response with security headers (:mod:`callwatch.http.headers`).

    ``api`` is what the API and the pages read (default: the service's site and callback book,
    no store, a live feed nothing publishes to).

    ``/docs``, ``/redoc`` and ``/openapi.json`` are served only when ``api_docs`` is true
    (default: the ``CALLWATCH_API_DOCS=open`` setting)."""
    docs = api_docs_open_setting() if api_docs is None else api_docs
    app = FastAPI(
        title="callwatch",
        version=__version__,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.service = service
    app.state.api = api or ApiContext(
        store=None, site=service.site, live=Broadcaster(service.site), book=service.pipeline.book
    )

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """The process is alive and its loop answers."""
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        """200 when every part is ready (listener bound, store reachable or spooling), else 503."""
        parts = request.app.state.service.readiness()
        ready = all(p.ready for p in parts.values())
        body = {"ready": ready, "parts": {name: p.as_dict() for name, p in parts.items()}}
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics(request: Request) -> Response:
        """Prometheus text exposition."""
        return Response(request.app.state.service.metrics.render(), media_type=CONTENT_TYPE)

    install_api(app)
    app.include_router(pages_router)
    app.include_router(admin_router)
    app.include_router(icon_router)
    app.include_router(probe_pages_router)
    app.include_router(wall_router)
    app.add_middleware(SecurityHeaders)
    return app
