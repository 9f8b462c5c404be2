"""The admin page of access tokens (``/admin/tokens``): list every token with its role,
departments, expiry, last use and state on the site's clock; make one (shown once, on the
page that answers the form); revoke one. Administrators only (``tokens`` in
:data:`callwatch.api.access.SEES`); others get the 403 page.

The forms post ``application/x-www-form-urlencoded`` to the same site: the session cookie is
``SameSite=Strict``, and a post that the browser marks as coming from another site
(``Sec-Fetch-Site``, ``Origin``) is refused too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from callwatch.api.access import may_see
from callwatch.api.auth import TokenError, TokenRecord, TokenStore
from callwatch.api.token_times import ExpiryError, local_time, parse_expiry
from callwatch.web import routes as pages
from callwatch.web import views

PATH = "/admin/tokens"
EXPIRY_CHOICES = ("", "7d", "30d", "90d", "365d")
"""The expiry spans the form offers ("" is never); a date field may give any day instead."""

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class TokenRow:
    """One token as the page shows it, times on the site's clock."""

    id: str
    role: str
    departments: tuple[str, ...]
    name: str
    created: str
    expires: str
    last_used: str
    state: str


def rows(records: list[TokenRecord], timezone: str, now_us: int) -> list[TokenRow]:
    """The page's rows of ``records``, newest first."""
    return [
        TokenRow(
            r.id,
            r.role,
            r.departments,
            r.name,
            local_time(r.created_us, timezone),
            local_time(r.expires_us, timezone, ""),
            local_time(r.last_used_us, timezone, ""),
            r.state(now_us),
        )
        for r in reversed(records)
    ]


def _now() -> int:
    return time.time_ns() // 1000


def _admin(request: Request) -> tuple[pages.WebContext, views.Viewer | None, Response | None]:
    """The context, the viewer, and the response to give instead of the page (login, 403)."""
    ctx = pages.context(request)
    viewer = pages._viewer(request, ctx)
    if viewer is None:
        return ctx, None, pages._login_redirect(request)
    if not may_see(viewer.principal, "tokens"):
        return ctx, viewer, pages._error(request, viewer, 403, "error.admin_only")
    return ctx, viewer, None


def _page(
    request: Request,
    ctx: pages.WebContext,
    viewer: views.Viewer,
    status: int = 200,
    **values: object,
) -> HTMLResponse:
    tokens = TokenStore(ctx.store.engine)
    return pages._render(
        request,
        "admin_tokens.html",
        status,
        viewer=viewer,
        site=ctx.site,
        tokens=rows(tokens.list(), ctx.site.timezone, _now()),
        departments=ctx.site.directory.departments,
        english={d.name: d.name_en or d.name for d in ctx.site.directory.departments},
        expiry_choices=EXPIRY_CHOICES,
        timezone=ctx.site.timezone,
        **values,
    )


@router.get(PATH, response_class=HTMLResponse)
def tokens_page(request: Request) -> Response:
    """Every token, and the form that makes one."""
    ctx, viewer, refused = _admin(request)
    if refused is not None or viewer is None:
        return refused  # type: ignore[return-value]
    return _page(request, ctx, viewer)


async def _form(request: Request) -> dict[str, list[str]]:
    body = (await request.body())[:8192].decode("utf-8", errors="replace")
    return parse_qs(body, keep_blank_values=True)


def _same_site(request: Request) -> bool:
    """Whether the post comes from this site's own pages: the browser's ``Sec-Fetch-Site``
    (when sent) says ``same-origin``, and its ``Origin`` (when sent and not ``null``, which
    the pages' ``Referrer-Policy: no-referrer`` makes it) names this host."""
    fetch_site = request.headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site not in ("same-origin", "none"):
        return False
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return True
    return urlsplit(origin).netloc == request.headers.get("host", "")


@router.post(PATH, response_model=None)
async def create_token(request: Request) -> Response:
    """Make a token from the form; the answer shows it once."""
    ctx, viewer, refused = await run_in_threadpool(_admin, request)
    if refused is not None or viewer is None:
        return refused  # type: ignore[return-value]
    if not _same_site(request):
        return pages._error(request, viewer, 403, "error.cross_site")
    form = await _form(request)
    role = (form.get("role") or [""])[0]
    known = {d.name for d in ctx.site.directory.departments}
    departments = [d for d in form.get("department", []) if d in known] if role == "lead" else []
    name = (form.get("name") or [""])[0][:200]
    until = (form.get("until") or [""])[0].strip() or (form.get("expires") or [""])[0].strip()

    def make() -> tuple[str | None, str | None]:
        now = _now()
        try:
            expires = parse_expiry(until, now, ctx.site.timezone) if until else None
        except ExpiryError:
            return None, "admin.bad_expiry"
        if expires is not None and expires <= now:
            return None, "admin.past_expiry"
        try:
            _, token = TokenStore(ctx.store.engine).create(role, departments, name, expires)
        except TokenError:
            return None, "admin.bad_lead" if role == "lead" else "admin.bad_request"
        return token, None

    token, problem = await run_in_threadpool(make)
    status = 400 if problem else 200
    return await run_in_threadpool(
        lambda: _page(request, ctx, viewer, status, new_token=token, problem=problem)
    )


@router.post(PATH + "/{token_id}/revoke", response_model=None)
async def revoke_token(request: Request, token_id: str) -> Response:
    """Revoke a token and go back to the list."""
    ctx, viewer, refused = await run_in_threadpool(_admin, request)
    if refused is not None or viewer is None:
        return refused  # type: ignore[return-value]
    if not _same_site(request):
        return pages._error(request, viewer, 403, "error.cross_site")

    def revoke() -> bool:
        try:
            TokenStore(ctx.store.engine).revoke(token_id)
        except TokenError:
            return False
        return True

    if not await run_in_threadpool(revoke):
        return pages._error(request, viewer, 404, "error.not_found")
    return RedirectResponse(PATH, status_code=303)
