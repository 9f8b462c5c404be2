"""The probe page (``/probes``): per department, how the probe calls went as a citizen heard
them (calls placed, answered, answered within the charter's rings, rings heard), whether the
capture confirmed each one, and the weekly trend; the monitoring banner on top.

Rings are counted from what the probe heard (first ringback → answer) with the charter's ring
cadence (:func:`callwatch.charter.rules.rings_heard`); "within N rings" is the charter's
answer rule (answer before ring N+1). Same access as the compliance pages: admins, and leads
for their departments. Its own router, included by :mod:`callwatch.web`.
"""

from __future__ import annotations

import statistics
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from callwatch.charter.rules import rings_heard
from callwatch.probe import results
from callwatch.probe.results import StoredResult
from callwatch.reports.weeks import week_of
from callwatch.site import SiteConfig
from callwatch.store import Store, StoreError
from callwatch.web import charts, monitoring
from callwatch.web.routes import _error, _login_redirect, _refused, _render, _viewer, context
from callwatch.web.strings import tr
from callwatch.web.views import Viewer, local, visible_departments

TREND_WEEKS = 12
RECENT = 30

router = APIRouter(include_in_schema=False)


@router.get("/probes", response_class=HTMLResponse)
def probes_page(request: Request) -> Response:
    """The probe calls of the last weeks, per department."""
    ctx = context(request)
    viewer = _viewer(request, ctx)
    if viewer is None:
        return _login_redirect(request)
    if (refused := _refused(request, viewer, "compliance")) is not None:
        return refused
    try:
        page = probe_page(ctx.store, ctx.site, viewer, ctx.clock())
    except StoreError:
        return _error(request, viewer, 503, "error.not_found")
    return _render(request, "probes.html", viewer=viewer, page=page, site=ctx.site)


def probe_page(store: Store, site: SiteConfig, viewer: Viewer, now: int) -> dict[str, Any]:
    """What the probe page shows at ``now`` (µs)."""
    tz, lang = site.timezone, viewer.lang
    week = week_of(now, tz)
    weeks = [week.shift(-i) for i in range(TREND_WEEKS - 1, -1, -1)]
    start, end = weeks[0].bounds(tz)[0], week.bounds(tz)[1]
    names = visible_departments(site, viewer)
    rows = [r for r in results.results(store, start, end) if r.department in names]
    departments = []
    for name in names:
        mine = [r for r in rows if r.department == name]
        if not mine and not site.directory.department(name).numbers:
            continue
        profile = site.profile_for(name)
        allowed = None if profile.answer is None else profile.answer.before_ring - 1
        this_start, this_end = week.bounds(tz)
        now_rows = [r for r in mine if this_start <= r.placed_us < this_end]
        rates: list[tuple[int, int] | None] = []
        for w in weeks:
            s, e = w.bounds(tz)
            placed = [r for r in mine if s <= r.placed_us < e]
            within = sum(_within(r, site, name) for r in placed)
            rates.append((within, len(placed)) if placed else None)
        label = tr("probe.within", lang, n=allowed) if allowed else tr("probe.answered", lang)
        heard = [_rings(r, site, name) for r in now_rows if r.answered]
        departments.append(
            {
                "name": name,
                "allowed": allowed,
                "placed": len(now_rows),
                "answered": sum(r.answered for r in now_rows),
                "within": sum(_within(r, site, name) for r in now_rows),
                "median_rings": statistics.median(heard) if heard else None,
                "confirmed": sum(r.outcome == "ok" for r in now_rows),
                "failed": sum(r.outcome != "ok" for r in now_rows),
                "trend": charts.trend_svg(
                    [str(w) for w in weeks], {"answer": rates}, {"answer": label}, lang
                ),
            }
        )
    recent = [_recent(r, site, lang) for r in reversed(rows[-RECENT:])]
    return {
        "week": str(week),
        "weeks": TREND_WEEKS,
        "start": local(site, start, "%Y-%m-%d"),
        "end": local(site, end - 1, "%Y-%m-%d"),
        "departments": departments,
        "recent": recent,
        "alerts": monitoring.banner(store, site, names, lang),
    }


def _rings(r: StoredResult, site: SiteConfig, department: str) -> int:
    """Rings the probe heard before the answer (0: answered with no ringback)."""
    if r.ring_seconds is None:
        return 0
    return rings_heard(r.ring_seconds, site.profile_for(department))


def _within(r: StoredResult, site: SiteConfig, department: str) -> bool:
    """Answered before the charter's forbidden ring, as the probe heard it."""
    profile = site.profile_for(department)
    limit = profile.answer_limit_s
    if not r.answered:
        return False
    return limit is None or r.ring_seconds is None or r.ring_seconds < limit


def _recent(r: StoredResult, site: SiteConfig, lang: str) -> dict[str, Any]:
    if r.answered:
        n = _rings(r, site, r.department)
        heard = tr("probe.rings", lang, n=n, seconds=f"{r.ring_seconds or 0:.1f}")
    elif r.final_status in (486, 600):
        heard = tr("probe.busy", lang, status=r.final_status)
    elif r.ended_by == "cancel":
        heard = tr("probe.gave_up", lang)
    else:
        heard = tr("probe.not_answered", lang)
    seen = r.seen_ring_seconds
    return {
        "when": local(site, r.placed_us, "%m-%d %H:%M"),
        "department": r.department,
        "heard": heard,
        "answered": r.answered,
        "within": _within(r, site, r.department),
        "outcome": r.outcome,
        "problems": monitoring.problem_texts(r.problems, lang),
        "seen": None if seen is None else tr("probe.seconds", lang, seconds=f"{seen:.1f}"),
        "call": r.call_id,
    }
