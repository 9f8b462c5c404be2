"""The dashboard (``/``): every department's week against the week before, the 12-week
trend, the callbacks waiting (their countdowns tick and turn overdue in the browser, as on
the wallboard) and the latest breaches (new ones pushed live). The callback and breach rows
are the wallboard's own (:mod:`callwatch.web.live_rows`, drawn by ``_live.html``), so the
rows the page draws and the rows ``/wall/live`` pushes look the same."""

from __future__ import annotations

import json
from typing import Any

from callwatch.i18n import RULES
from callwatch.reports import build, data
from callwatch.reports.queries import fetch_period
from callwatch.reports.weeks import IsoWeek, week_of
from callwatch.site import SiteConfig
from callwatch.store import Store
from callwatch.web import charts, monitoring
from callwatch.web.live_rows import LiveRows, countdown_words, day_bounds, waiting_callbacks
from callwatch.web.queries import recent_breaches
from callwatch.web.strings import tr
from callwatch.web.views import Viewer, local, shown_id, visible_departments

TREND_WEEKS = 12


def dashboard(store: Store, site: SiteConfig, viewer: Viewer, now: int) -> dict[str, Any]:
    """This week against last week per department and rule, the 12-week trend, callbacks
    waiting and the latest breaches, at ``now`` (µs)."""
    lang = viewer.lang
    week = week_of(now, site.timezone)
    start, end = week.bounds(site.timezone)
    names = visible_departments(site, viewer)
    parts = [
        c
        for c in build.compliance(
            store, site, start, end, previous=week.previous().bounds(site.timezone)
        )
        if c.department in names
    ]
    rows = LiveRows(site, viewer, lambda: now)
    callbacks = rows.callback_rows(
        waiting_callbacks(store, names, day_bounds(now, site.timezone)[0])
    )
    feed = [
        rows.breach(
            shown_id(site, viewer, b.call_id),
            b.started_us,
            b.department,
            b.extension,
            rows.show(b.caller),
            {"rule": b.rule, "measured": b.measured, "limit": b.limit},
        )
        for b in recent_breaches(store, site.name, before=now, departments=names)
    ]
    return {
        "week": str(week),
        "start": local(site, start, "%m-%d"),
        "end": local(site, end - 1, "%m-%d"),
        "departments": parts,
        "trend": _trend(store, site, week, names, lang),
        "callbacks": callbacks,
        "feed": feed,
        "rules": RULES,
        "alerts": monitoring.banner(store, site, names, lang),
        "now": now,
        "words": json.dumps(countdown_words(lang), ensure_ascii=False),
    }


def _trend(
    store: Store, site: SiteConfig, week: IsoWeek, names: list[str], lang: str
) -> dict[str, str]:
    weeks = [week.shift(-i) for i in range(TREND_WEEKS - 1, -1, -1)]
    rates: dict[str, dict[str, list[tuple[int, int] | None]]] = {
        n: {r: [] for r in RULES} for n in names
    }
    for w in weeks:
        s, e = w.bounds(site.timezone)
        facts = fetch_period(store, site.name, s, e, details=False)
        for part in data.compliance(facts, site.profile_for, names):
            if part.department not in rates:
                continue
            for result in part.rules:
                counts = (result.passed, result.judged) if result.judged else None
                rates[part.department][result.rule].append(counts)
    labels = {r: tr(f"rule.{r}", lang) for r in RULES}
    out = {}
    for name in names:
        profile = site.profile_for(name)
        series = {r: v for r, v in rates[name].items() if data.in_charter(profile, r)}
        out[name] = charts.trend_svg([str(w) for w in weeks], series, labels, lang)
    return out
