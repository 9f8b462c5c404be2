"""What the API's routes work with: the store, the site, the live feed, the tokens.

The service builds its :class:`ApiContext` with its sinks (:func:`callwatch.service.build_sinks`)
and hands it to :func:`callwatch.http.create_app`, which keeps it on ``app.state.api``; routes
receive it through the :func:`api_context` dependency. Tests and tools hand their own.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from callwatch.api.auth import TokenStore
from callwatch.api.errors import Unavailable
from callwatch.api.live import Broadcaster
from callwatch.api.masking import Masker
from callwatch.charter.callbacks import CallbackBook
from callwatch.site import SiteConfig
from callwatch.store import Store

ENV_MONITORING = "CALLWATCH_MONITORING"
"""``open``: ``/readyz`` and ``/metrics`` answer without a token; ``token`` (the default): they
need an admin token, like every other endpoint but ``/healthz``."""

ENV_API_DOCS = "CALLWATCH_API_DOCS"
"""``open``: ``/docs``, ``/redoc`` and ``/openapi.json`` answer anyone; ``off`` (the default):
they are not served (the schema describes every route; keep it to those who need it)."""

log = logging.getLogger(__name__)


@dataclass
class ApiContext:
    """The parts the API reads and writes. ``book`` is the running pipeline's callback book
    (None offline): a recorded callback request reaches it too."""

    store: Store | None
    site: SiteConfig
    live: Broadcaster = field(default_factory=Broadcaster)
    book: CallbackBook | None = None
    monitoring_open: bool = field(default_factory=lambda: monitoring_open_setting())
    tokens: TokenStore | None = None
    masker: Masker = field(init=False)

    def __post_init__(self) -> None:
        if self.tokens is None and self.store is not None:
            self.tokens = TokenStore(self.store.engine)
        self.masker = Masker(self.site.directory.is_ours)

    def need_store(self) -> Store:
        """The store, or 503 when the service runs without one."""
        if self.store is None:
            raise Unavailable("the API needs the store, and this service has none")
        return self.store


def monitoring_open_setting(environ: dict[str, str] | None = None) -> bool:
    """Whether ``$CALLWATCH_MONITORING`` is ``open``; ``token`` (the default) keeps
    ``/readyz`` and ``/metrics`` behind an admin token, and so does any other value (logged)."""
    value = (environ if environ is not None else os.environ).get(ENV_MONITORING, "")
    value = value.strip().lower() or "token"
    if value not in ("open", "token"):
        log.warning(
            "%s=%r is neither 'open' nor 'token': monitoring needs a token", ENV_MONITORING, value
        )
    return value == "open"


def api_docs_open_setting(environ: dict[str, str] | None = None) -> bool:
    """Whether ``$CALLWATCH_API_DOCS`` is ``open``; ``off`` (the default) and any other value
    (logged) keep the API's documentation pages and schema unserved."""
    value = (environ if environ is not None else os.environ).get(ENV_API_DOCS, "")
    value = value.strip().lower() or "off"
    if value not in ("open", "off"):
        log.warning("%s=%r is neither 'open' nor 'off': the API docs stay off", ENV_API_DOCS, value)
    return value == "open"


def context_of(app: Any) -> ApiContext | None:
    """The app's :class:`ApiContext` (``app.state.api``, set by
    :func:`callwatch.http.create_app`; None on an app that has none)."""
    found: ApiContext | None = getattr(app.state, "api", None)
    return found


def api_context(request: Request) -> ApiContext:
    """FastAPI dependency: the context of the app serving ``request``."""
    ctx = context_of(request.app)
    if ctx is None:
        raise Unavailable("the API is not configured on this server")
    return ctx
