"""The wallboard (``/wall``): a page a team lead leaves open all day, readable at a distance.

Today's figures per department (calls, answered within the charter's rings, breaches,
callbacks waiting), the callbacks waiting with a countdown to their deadline, who is ringing
now and the latest breaches. It keeps itself current through ``/wall/live``: the live feed
(:mod:`callwatch.api.live`) with every item rendered here, for the viewer, by the macros the
page itself is drawn with (``_live.html``: the catalogue's words in the viewer's language,
the site's clock, numbers masked for a trainer), plus what the script needs to count and tick
(figures to add, due and ringing times in capture µs, the server's clock). The script
(``live.js``, which the dashboard runs too) counts down every second from the server's
clock, reconnects with backoff and asks for what it missed (``?after=`` /
``Last-Event-ID``); a ``reset`` reloads the page.

Who sees what is :func:`callwatch.api.access.may_see`: figures for those who see compliance,
callbacks for those who see callbacks, ringing calls and breaches for every role with the
live view; a lead only their departments. Its own router, included by the application.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from callwatch import i18n
from callwatch.api import routes as api_routes
from callwatch.api.access import may_see
from callwatch.api.context import context_of
from callwatch.api.live import Broadcaster, LiveItem
from callwatch.reports.queries import fetch_period
from callwatch.site import SiteConfig
from callwatch.store import Store, StoreError
from callwatch.web.live_rows import (
    WAITING,
    LiveRows,
    countdown_words,
    day_bounds,
    waiting_callbacks,
)
from callwatch.web.queries import recent_breaches
from callwatch.web.routes import (
    _env,
    _error,
    _login_redirect,
    _principal,
    _refused,
    _render,
    _viewer,
    context,
)
from callwatch.web.strings import tr
from callwatch.web.views import Viewer, local, shown_id, visible_departments

FEED = 20
router = APIRouter(include_in_schema=False)


@router.get("/wall", response_class=HTMLResponse)
def wall_page(request: Request) -> Response:
    """The wallboard."""
    ctx = context(request)
    viewer = _viewer(request, ctx)
    if viewer is None:
        return _login_redirect(request)
    if (refused := _refused(request, viewer, "live")) is not None:
        return refused
    api = context_of(request.app)
    live = api.live if api is not None else Broadcaster()
    try:
        page = wall(ctx.store, ctx.site, viewer, ctx.clock(), live)
    except StoreError:
        return _error(request, viewer, 503, "error.not_found")
    return _render(request, "wall.html", viewer=viewer, page=page, site=ctx.site)


@router.get("/wall/live", response_model=None)
async def wall_live(request: Request) -> Response:
    """The live feed as the wallboard shows it, with the session cookie (an EventSource
    cannot send a bearer header); ``after`` or ``Last-Event-ID``: the last id the page read."""
    ctx = context(request)
    principal = await run_in_threadpool(_principal, request, ctx)
    api = context_of(request.app)
    if principal is None or api is None:
        return Response("log in first", status_code=401, media_type="text/plain")
    if not may_see(principal, "live"):
        return Response("not for this role", status_code=403, media_type="text/plain")
    lang = i18n.normalize_lang(request.query_params.get("lang"))
    viewer = Viewer(principal, lang)
    after = request.headers.get("last-event-id") or request.query_params.get("after") or None
    scope = sorted(principal.departments) if principal.role == "lead" else None
    sub = api.live.subscribe(scope, kinds_for(viewer), after=after)
    render = LiveRenderer(ctx.site, viewer, ctx.clock)

    def write(item: LiveItem) -> str:
        body = render.item(item)
        if body is None:  # not shown on the pages (a probe call): only the position moves
            body = {"kind": "skip"}
        body["now"] = ctx.clock()
        return _message("item", api.live.event_id(item), body)

    def heartbeat() -> str:
        return _message("clock", None, {"now": ctx.clock()})

    return StreamingResponse(
        api_routes.live_stream(api.live, sub, write, heartbeat),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def kinds_for(viewer: Viewer) -> set[str]:
    """The live items ``viewer`` is sent: breaches and ringing calls for every role with the
    live view, judged calls (the figures) and callbacks for those who may see them."""
    kinds = {"breach", "ringing"}
    if viewer.sees("compliance"):
        kinds.add("call")
    if viewer.sees("callbacks"):
        kinds.add("callback")
    return kinds


def wall(store: Store, site: SiteConfig, viewer: Viewer, now: int, live: Broadcaster) -> dict:
    """What the wallboard shows at ``now`` (µs), and where its live feed starts."""
    live.touch()  # the page will listen: build the items from now on
    start, end = day_bounds(now, site.timezone)
    names = visible_departments(site, viewer)
    render = LiveRenderer(site, viewer, lambda: now)
    figures = None
    if viewer.sees("compliance"):
        figures = today_figures(store, site, names, start, end)
    callbacks = None
    if viewer.sees("callbacks"):
        callbacks = render.callback_rows(waiting_callbacks(store, names, start))
        if figures is not None:
            waiting = Counter(r["department"] for r in callbacks)
            for row in figures:
                row["callbacks"] = waiting[row["department"]]
    ringing = []
    if live.ringing is not None:
        for name in names:
            ringing += [render.ringing_row(name, r) for r in live.ringing.calls(name)]
    ringing.sort(key=lambda r: r["since_us"])
    feed = [
        render.breach(
            shown_id(site, viewer, b.call_id),
            b.started_us,
            b.department,
            b.extension,
            render.show(b.caller),
            {"rule": b.rule, "measured": b.measured, "limit": b.limit},
        )
        for b in recent_breaches(store, site.name, limit=FEED, before=end, departments=names)
    ]
    return {
        "day": local(site, now, "%Y-%m-%d"),
        "now": now,
        "day_end": end,
        "figures": figures,
        "callbacks": callbacks,
        "ringing": ringing,
        "feed": feed,
        "live_from": live.last_event_id,
        "words": json.dumps(countdown_words(viewer.lang), ensure_ascii=False),
    }


def today_figures(
    store: Store, site: SiteConfig, names: list[str], start: int, end: int
) -> list[dict[str, Any]]:
    """Per department, the calls of ``[start, end)``: inbound calls, answer verdicts (passed
    and judged), failed verdicts of any rule; probe calls left out (the reports' own query)."""
    facts = fetch_period(store, site.name, start, end, departments=names, details=False)
    calls = Counter(c.department for c in facts.calls)
    answered: Counter[str | None] = Counter()
    judged: Counter[str | None] = Counter()
    breaches: Counter[str | None] = Counter()
    for v in facts.verdicts:
        if v.rule == "answer":
            judged[v.department] += v.count
            answered[v.department] += v.count if v.ok else 0
        if not v.ok:
            breaches[v.department] += v.count
    out = []
    for name in names:
        profile = site.profile_for(name)
        out.append(
            {
                "department": name,
                "rings": profile.answer_before_ring,
                "calls": calls[name],
                "answered": answered[name],
                "judged": judged[name],
                "breaches": breaches[name],
                "callbacks": 0,
            }
        )
    return out


def _message(kind: str, ident: str | None, body: dict[str, Any]) -> str:
    head = f"event: {kind}\n" + ("" if ident is None else f"id: {ident}\n")
    return head + f"data: {json.dumps(body, ensure_ascii=False)}\n\n"


class LiveRenderer(LiveRows):
    """Live items as one viewer sees them: HTML from the page's own macros (``_live.html``),
    with what the script counts."""

    def __init__(self, site: SiteConfig, viewer: Viewer, clock: Any) -> None:
        super().__init__(site, viewer, clock)
        self._macros: Any = None

    @property
    def macros(self) -> Any:
        """The macros of ``_live.html`` in the viewer's language."""
        if self._macros is None:
            lang = self.viewer.lang
            self._macros = (
                _env()
                .get_template("_live.html")
                .make_module(
                    {"lang": lang, "site": self.site, "_": lambda key, **p: tr(key, lang, **p)}
                )
            )
        return self._macros

    def item(self, item: LiveItem) -> dict[str, Any] | None:
        """What the page does with ``item`` (None: nothing, a probe call's)."""
        p = item.payload
        if p.get("tag"):
            return None
        if item.kind == "breach":
            b = self.breach(
                shown_id(self.site, self.viewer, p["call"]),
                p.get("at_us"),
                item.department,
                p.get("extension"),
                self.show(p.get("caller")),
                p,
            )
            out = {"kind": "breach", "id": b["id"], "html": str(self.macros.breach_item(b))}
            if p.get("rule") == "callback" and self.today(p.get("at_us")):
                out["tally"] = {"department": item.department, "breaches": 1}
            return out
        if item.kind == "call":
            if not self.today(p.get("started_us")):
                return {"kind": "skip"}
            inbound = p.get("direction") == "inbound"
            answer = p.get("answered_in_rings")
            tally = {
                "department": item.department,
                "calls": int(inbound),
                "answered": int(answer is True),
                "judged": int(answer is not None),
                "breaches": p.get("breaches", 0),
            }
            return {"kind": "call", "tally": tally}
        if item.kind == "callback":
            row = self.callback_row(
                item.department,
                p["call"],
                p.get("caller"),
                p["status"],
                p["opened_us"],
                p.get("due_us"),
            )
            out = {"kind": "callback", "id": row["id"], "department": item.department}
            out["status"] = p["status"]
            if p["status"] in WAITING:
                out["html"] = str(self.macros.callback_row(row))
                out["due_us"] = row["due_us"]
            return out
        if item.kind == "ringing":
            rows = [self.ringing_row(item.department, r) for r in p.get("calls", [])]
            html = "".join(str(self.macros.ringing_row(r)) for r in rows)
            return {"kind": "ringing", "department": item.department or "", "html": html}
        return None
