"""The pages: login, dashboard, department, call replay (and its export), training.

Every page needs a session: ``/login`` takes an API token once (checked with
:class:`callwatch.api.auth.TokenStore`) and keeps a signed session in an HttpOnly cookie (never
the token: :mod:`callwatch.web.session`); a missing, expired or revoked session sends the
browser back to ``/login``. What a role may open is :func:`callwatch.api.access.may_see`, the
API's own rule: a trainer's home is the training page, and the dashboard, department pages
and PDF reports (compliance figures, callbacks) are not theirs. Korean by default;
``?lang=en`` (or ``ko``) switches and is remembered in a cookie. Times are shown on the
site's clock. The pages reach the running service through ``app.state.service`` (its site
and settings); tests may set
``app.state.web`` to a :class:`WebContext` of their own (a fixed clock, a store).
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup, escape

from callwatch.api.access import View, may_see
from callwatch.api.auth import Principal, TokenStore, digest
from callwatch.api.context import context_of
from callwatch.api.params import report_week
from callwatch.i18n import normalize_lang
from callwatch.reports import build
from callwatch.reports.errors import RenderError, WeekError
from callwatch.reports.render_pdf import render_pdf
from callwatch.reports.weeks import week_of
from callwatch.site import SiteConfig
from callwatch.store import Store, StoreError
from callwatch.web import dashboard as dashboard_page
from callwatch.web import filters, session, views
from callwatch.web.strings import tr

CALL_URL = "/calls/{id}"
SESSION_COOKIE = "cw_session"
LANG_COOKIE = "cw_lang"
_STATIC = {
    "app.css": "text/css",
    "replay.js": "text/javascript",
    "live.js": "text/javascript",
    "wall.css": "text/css",
    "explore.css": "text/css",
}
_SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
EXPORT_POLICY = (
    "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
    "img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
"""The export's Content-Security-Policy: its own inline script and CSS, nothing fetched."""

router = APIRouter(include_in_schema=False)


def _wall_clock() -> int:
    return time.time_ns() // 1000


@dataclass
class WebContext:
    """What the pages read: the site, the store, the token check and the clock (µs)."""

    site: SiteConfig
    store: Store
    verify: Callable[[str], Principal | None]
    clock: Callable[[], int] = field(default=_wall_clock)
    holder: session.Holder | None = None
    public_url: str | None = None
    """The configured public address of the pages (``[service] public_url``), for links in
    files that leave the site; None: the address of each request."""

    def __post_init__(self) -> None:
        if self.holder is None:
            self.holder = TokenStore(self.store.engine).holder


def context(request: Request) -> WebContext:
    """The pages' context, made on first use from the API's (the running service's store,
    site and tokens)."""
    ctx = getattr(request.app.state, "web", None)
    if ctx is None:
        api = context_of(request.app)
        if api is None:
            raise RuntimeError("the pages need a service with a site (app.state.service)")
        store = api.store
        if store is None:
            service = request.app.state.service
            store = Store.open(service.settings.store_url, site=api.site.name)
        tokens = api.tokens or TokenStore(store.engine)
        settings = getattr(getattr(request.app.state, "service", None), "settings", None)
        public_url = getattr(settings, "public_url", None)
        ctx = WebContext(api.site, store, tokens.verify, public_url=public_url)
        request.app.state.web = ctx
    return ctx


@functools.cache
def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("callwatch.web", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters.install(env)  # pct, pts, num, dept, measure, limit, … (web/filters.py)
    return env


@functools.cache
def static_text(name: str) -> str:
    """The text of a static file of the pages (CSS, the replay script)."""
    return resources.files("callwatch.web").joinpath("static", name).read_text(encoding="utf-8")


def _lang(request: Request) -> tuple[str, bool]:
    asked = request.query_params.get("lang")
    if asked:
        return normalize_lang(asked), True
    return normalize_lang(request.cookies.get(LANG_COOKIE)), False


def _principal(request: Request, ctx: WebContext) -> Principal | None:
    assert ctx.holder is not None
    return session.open_session(request.cookies.get(SESSION_COOKIE), ctx.holder)


def _viewer(request: Request, ctx: WebContext) -> views.Viewer | None:
    principal = _principal(request, ctx)
    return None if principal is None else views.Viewer(principal, _lang(request)[0])


def _refused(request: Request, viewer: views.Viewer, view: View) -> HTMLResponse | None:
    """The 403 page when the viewer's role may not see ``view`` (api.access.may_see)."""
    if may_see(viewer.principal, view):
        return None
    return _error(request, viewer, 403, "error.forbidden")


def _login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)


def translate(key: str, lang: str, **params: object) -> str | Markup:
    """The pages' ``_()``: :func:`tr`; when a value is markup (``zone=site.timezone|verbatim``)
    the text is escaped and filled with it, so the value keeps its markup."""
    if any(isinstance(v, Markup) for v in params.values()):
        return Markup(escape(tr(key, lang))).format(**params)
    return tr(key, lang, **params)


def _render(request: Request, template: str, status: int = 200, **values: Any) -> HTMLResponse:
    lang, switched = _lang(request)
    other = "en" if lang == "ko" else "ko"
    values.setdefault("viewer", None)
    html = (
        _env()
        .get_template(template)
        .render(
            lang=lang,
            _=lambda key, **p: translate(key, lang, **p),
            switch_url=_switch_url(request, other),
            **values,
        )
    )
    response = HTMLResponse(html, status_code=status)
    if switched:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


def _error(request: Request, viewer: views.Viewer | None, status: int, key: str) -> HTMLResponse:
    site = getattr(getattr(request.app.state, "web", None), "site", None)
    return _render(request, "error.html", status, viewer=viewer, message_key=key, site=site)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/") -> HTMLResponse:
    """The login form."""
    return _render(request, "login.html", next=_safe_next(next), failed=False)


@router.post("/login", response_model=None)
async def login(request: Request) -> Response:
    """Check the token; keep a signed session (not the token) in an HttpOnly cookie, Secure
    over HTTPS, and go on; or show the form again.

    The form is read as ``application/x-www-form-urlencoded`` text (no multipart parser)."""
    body = (await request.body())[:8192].decode("utf-8", errors="replace")
    form = parse_qs(body, keep_blank_values=True)
    token = (form.get("token") or [""])[0]
    next = (form.get("next") or ["/"])[0]
    ctx = context(request)
    principal = await run_in_threadpool(ctx.verify, token.strip()) if token.strip() else None
    if principal is None:
        return _render(request, "login.html", 401, next=_safe_next(next), failed=True)
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session.seal(principal.token_id, digest(token.strip())),
        httponly=True,
        samesite="strict",
        max_age=session.SESSION_SECONDS,
        secure=session.is_https(request),
    )
    return response


@router.get("/logout")
def logout() -> RedirectResponse:
    """Forget the session."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/static/{name}")
def static(name: str) -> Response:
    """The pages' own CSS and scripts."""
    if name not in _STATIC:
        return Response("not found", status_code=404, media_type="text/plain")
    return Response(static_text(name), media_type=_STATIC[name] + "; charset=utf-8")


@router.get("/", response_class=HTMLResponse)
def dashboard(request: Request) -> Response:
    """Every department this week against last week, trends, callbacks, latest breaches (a
    trainer, who may not see those, goes to the training page)."""
    ctx = context(request)
    viewer = _viewer(request, ctx)
    if viewer is None:
        return _login_redirect(request)
    if not may_see(viewer.principal, "compliance"):
        return RedirectResponse("/training", status_code=303)
    api = context_of(request.app)
    if api is not None:
        api.live.touch()  # the page will listen: build the items from now on
    try:
        page = dashboard_page.dashboard(ctx.store, ctx.site, viewer, ctx.clock())
    except StoreError:
        return _error(request, viewer, 503, "error.not_found")
    page["live_from"] = api.live.last_event_id if api is not None else ""
    return _render(request, "dashboard.html", viewer=viewer, page=page, site=ctx.site)


@router.get("/departments/{name}", response_class=HTMLResponse)
def department(request: Request, name: str, week: str | None = None) -> Response:
    """One department's week."""
    ctx = context(request)
    viewer = _viewer(request, ctx)
    if viewer is None:
        return _login_redirect(request)
    if (refused := _refused(request, viewer, "compliance")) is not None:
        return refused
    try:
        chosen = report_week(week) if week else week_of(ctx.clock(), ctx.site.timezone)
    except WeekError:
        return _error(request, viewer, 400, "error.bad_week")
    try:
        page = views.department(ctx.store, ctx.site, viewer, name, chosen, ctx.clock())
    except views.PageNotFound:
        return _error(request, viewer, 404, "error.not_found")
    except views.PageForbidden:
        return _error(request, viewer, 403, "error.forbidden")
    return _render(request, "department.html", viewer=viewer, page=page, site=ctx.site)


@router.get("/calls/{call_id:path}/export", response_model=None)
def export_call(request: Request, call_id: str) -> Response:
    """The replay as one self-contained HTML file (inline CSS, script and SVG; numbers
    masked), for a training session."""
    ctx = context(request)
    viewer = _viewer(request, ctx)
    if viewer is None:
        return _login_redirect(request)
    if (refused := _refused(request, viewer, "call")) is not None:
        return refused
    try:
        real = views.masker(ctx.site).resolve(call_id) or ""
        if not viewer.may_read((ctx.store.call(real) or {}).get("department")):
            raise views.PageForbidden(call_id)
        page = views.call(ctx.store, ctx.site, None, real, viewer.lang)
    except views.PageNotFound:
        return _error(request, viewer, 404, "error.not_found")
    except views.PageForbidden:
        return _error(request, viewer, 403, "error.forbidden")
    response = _render(
        request,
        "export.html",
        page=page,
        site=ctx.site,
        css=static_text("app.css"),
        script=static_text("replay.js"),
    )
    filename = _SAFE_NAME.sub("_", page["id"])[:80] or "call"
    response.headers["Content-Disposition"] = f'attachment; filename="callwatch-{filename}.html"'
    response.headers["Content-Security-Policy"] = EXPORT_POLICY
    return response


@router.get("/calls/{call_id:path}", response_class=HTMLResponse)
def call_page(request: Request, call_id: str) -> Response:
    """The trainer's replay of one call."""
    ctx = context(request)
    viewer = _viewer(request, ctx)
    if viewer is None:
        return _login_redirect(request)
    if (refused := _refused(request, viewer, "call")) is not None:
        return refused
    try:
        page = views.call(ctx.store, ctx.site, viewer, call_id, viewer.lang)
    except views.PageNotFound:
        return _error(request, viewer, 404, "error.not_found")
    except views.PageForbidden:
        return _error(request, viewer, 403, "error.forbidden")
    return _render(request, "call.html", viewer=viewer, page=page, site=ctx.site)


@router.get("/training", response_class=HTMLResponse)
def training(request: Request, weeks: int = 4) -> Response:
    """Breaches per extension with the charter's escalation steps."""
    ctx = context(request)
    viewer = _viewer(request, ctx)
    if viewer is None:
        return _login_redirect(request)
    if (refused := _refused(request, viewer, "training")) is not None:
        return refused
    weeks = min(max(weeks, 1), 52)
    page = views.training(ctx.store, ctx.site, viewer, ctx.clock(), weeks)
    return _render(request, "training.html", viewer=viewer, page=page, site=ctx.site)


@router.get("/reports/weekly.pdf", response_model=None)
def weekly_pdf(
    request: Request, week: str | None = None, department: str | None = None
) -> Response:
    """The weekly report as PDF (the reports' own renderer), for admins and leads."""
    ctx = context(request)
    viewer = _viewer(request, ctx)
    if viewer is None:
        return _login_redirect(request)
    if (refused := _refused(request, viewer, "reports")) is not None:
        return refused
    if department is None and viewer.principal.role == "lead":
        return _error(request, viewer, 403, "error.forbidden")
    if department is not None and not viewer.may_read(department):
        return _error(request, viewer, 403, "error.forbidden")
    try:
        chosen = report_week(week) if week else week_of(ctx.clock(), ctx.site.timezone)
    except WeekError:
        return _error(request, viewer, 400, "error.bad_week")
    try:
        report = build.weekly_report(ctx.store, ctx.site, chosen, department=department)
        pdf = render_pdf(report, viewer.lang, call_url=CALL_URL)
    except build.UnknownDepartment:
        return _error(request, viewer, 404, "error.not_found")
    except RenderError:
        return _error(request, viewer, 503, "error.not_found")
    name = _SAFE_NAME.sub("_", f"{chosen}-{department or 'all'}")
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="callwatch-{name}.pdf"'},
    )


def _switch_url(request: Request, lang: str) -> str:
    """This page in the other language (its other query parameters kept)."""
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    params.append(("lang", lang))
    return f"{request.url.path}?{urlencode(params)}"


def _safe_next(target: str) -> str:
    """Only a path of this site (no scheme, no host) is a place to go after login."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
