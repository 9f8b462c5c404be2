"""Who is asking: the bearer token of a request, checked against the role a route needs.

Every route under ``/api`` depends on :func:`require`; ``/readyz`` and ``/metrics`` are
guarded by :class:`MonitoringGuard` (an admin token, unless ``CALLWATCH_MONITORING=open``).
``/healthz`` is the only endpoint that never asks for a token. A missing, malformed, unknown
or revoked token gets 401 with ``WWW-Authenticate: Bearer``; a role that does not cover the
route gets 403.

What each role may see is one table, :data:`SEES`, read through :func:`may_see` by the API's
routes (:func:`require_view`) and by the pages alike:

========== ===========================================================================
role       sees
========== ===========================================================================
admin      everything, and the access tokens (the admin page)
lead       everything of their departments: compliance, calls, breaches, callbacks,
           reports, the live feed, the dashboard, department pages, replays, training
           (not the access tokens)
trainer    breaches, call replays, the live feed and the training page, numbers masked;
           no compliance figures, call lists, callbacks or reports (so no dashboard and
           no department page: their home is the training page)
========== ===========================================================================
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Annotated, Any, Literal, get_args

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import SQLAlchemyError

from callwatch.api.auth import Principal, Role
from callwatch.api.context import ApiContext, api_context, context_of
from callwatch.api.errors import Forbidden, Unauthorized, Unavailable

View = Literal[
    "departments",
    "compliance",
    "calls",
    "call",
    "breaches",
    "callbacks",
    "reports",
    "live",
    "training",
    "tokens",
]
_TRAINER_VIEWS: frozenset[str] = frozenset({"departments", "call", "breaches", "live", "training"})
_ALL_VIEWS: frozenset[str] = frozenset(get_args(View))
SEES: dict[Role, frozenset[str]] = {
    "admin": _ALL_VIEWS,
    "lead": _ALL_VIEWS - {"tokens"},
    "trainer": _TRAINER_VIEWS,
}
"""The views each role may see (a lead: of their departments only, see Principal.may_read)."""


def may_see(principal: Principal, view: View) -> bool:
    """Whether ``principal``'s role may see ``view`` (the one rule of the API and the pages)."""
    return view in SEES.get(principal.role, frozenset())


REALM = "callwatch"
MONITORING_PATHS = frozenset({"/readyz", "/metrics"})
_bearer = HTTPBearer(
    auto_error=False,
    description="An API token from `callwatch token create`, as `Authorization: Bearer <token>`.",
)


def _challenge(error: str | None = None) -> dict[str, str]:
    value = f'Bearer realm="{REALM}"'
    if error:
        value += f', error="{error}"'
    return {"WWW-Authenticate": value}


def authenticate(ctx: ApiContext, header: str | None) -> Principal:
    """The holder of the ``Authorization`` header's bearer token; 401 when there is none."""
    if not header:
        raise Unauthorized("an API token is needed: Authorization: Bearer <token>", _challenge())
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized(
            "the Authorization header must read 'Bearer <token>'", _challenge("invalid_request")
        )
    if ctx.tokens is None:
        raise Unavailable("the API needs the store to check tokens, and this service has none")
    try:
        found = ctx.tokens.verify(token.strip())
    except SQLAlchemyError as exc:
        raise Unavailable(
            f"cannot check the token: the store is unreachable ({exc.code})"
        ) from None
    if found is None:
        raise Unauthorized("the token is unknown or revoked", _challenge("invalid_token"))
    return found


def require_view(view: View) -> Callable[..., Principal]:
    """A dependency admitting the roles that :func:`may_see` ``view`` (403 for the others)."""
    return require(*(role for role, views in SEES.items() if view in views))


def require(*roles: Role) -> Callable[..., Principal]:
    """A dependency admitting holders of ``roles`` (every role when none is given)."""

    def dependency(
        ctx: Annotated[ApiContext, Depends(api_context)],
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Principal:
        header = None if credentials is None else f"Bearer {credentials.credentials}"
        principal = authenticate(ctx, header)
        if roles and principal.role not in roles:
            raise Forbidden(
                f"a {principal.role} token cannot read this (needs {' or '.join(roles)})"
            )
        return principal

    return dependency


class MonitoringGuard:
    """ASGI middleware: ``/readyz`` and ``/metrics`` need an admin token unless the monitoring
    setting is ``open`` (or the service has no store, so no token could exist)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] not in MONITORING_PATHS:
            await self.app(scope, receive, send)
            return
        ctx = context_of(scope["app"]) if "app" in scope else None
        if ctx is None or ctx.monitoring_open or ctx.tokens is None:
            await self.app(scope, receive, send)
            return
        header = next(
            (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
        )
        from anyio import to_thread

        try:
            principal = await to_thread.run_sync(authenticate, ctx, header)
            if principal.role != "admin":
                raise Forbidden(
                    f"a {principal.role} token cannot read {scope['path']} (admin only)"
                )
        except (Unauthorized, Forbidden, Unavailable) as exc:
            await _send_error(send, exc.status_code, exc.detail, exc.headers or {})
            return
        await self.app(scope, receive, send)


async def _send_error(send: Any, status: int, detail: str, headers: Mapping[str, str]) -> None:
    body = json.dumps({"detail": detail}).encode("utf-8")
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
