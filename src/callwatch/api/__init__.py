"""The HTTP API under ``/api`` (FastAPI): tokens with roles, compliance, calls, breaches,
callbacks, weekly reports and a live feed of events and breaches (Server-Sent Events).

:func:`install_api` adds it to the service's application; see :mod:`callwatch.api.routes`
for the routes and who may call them, :mod:`callwatch.api.auth` for tokens and roles.
"""

from __future__ import annotations

from fastapi import FastAPI

from callwatch.api.access import MonitoringGuard, require
from callwatch.api.auth import ROLES, Principal, Role, TokenError, TokenRecord, TokenStore
from callwatch.api.context import ENV_MONITORING, ApiContext, api_context
from callwatch.api.live import Broadcaster, LiveItem, LiveSink
from callwatch.api.masking import Masker
from callwatch.api.routes import router


def install_api(app: FastAPI) -> None:
    """Add the ``/api`` routes to ``app`` and put ``/readyz`` and ``/metrics`` behind an admin
    token (unless ``CALLWATCH_MONITORING=open``)."""
    app.include_router(router)
    app.add_middleware(MonitoringGuard)


__all__ = [
    "ENV_MONITORING",
    "ROLES",
    "ApiContext",
    "Broadcaster",
    "LiveItem",
    "LiveSink",
    "Masker",
    "Principal",
    "Role",
    "TokenError",
    "TokenRecord",
    "TokenStore",
    "api_context",
    "install_api",
    "require",
    "router",
]
