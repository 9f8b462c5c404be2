"""What each page shows, gathered from the store: compliance figures come from
:mod:`callwatch.reports` (the numbers every face shares), the rest from the store and
:mod:`callwatch.web.queries`. Plain data for the templates; no HTTP here."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from callwatch.api.access import View, may_see
from callwatch.api.auth import Principal
from callwatch.api.masking import Masker
from callwatch.charter.profile import Profile
from callwatch.i18n import RULES
from callwatch.reports import build, data
from callwatch.reports.queries import fetch_period
from callwatch.reports.weeks import IsoWeek, local_datetime, week_of
from callwatch.site import SiteConfig
from callwatch.store import Store
from callwatch.timefmt import parse_iso
from callwatch.web import charts, escalation
from callwatch.web import ladder as ladders
from callwatch.web.ladder import build_ladder, header_svg, step_svg
from callwatch.web.queries import (
    AttemptRow,
    call_events,
    call_legs,
    callback_attempts,
)
from callwatch.web.strings import tr
from callwatch.web.timeline import NARROW, WIDE, build_timeline, legend, timeline_svg


class PageNotFound(LookupError):
    """The page asks for something that does not exist (a call, a department)."""


class PageForbidden(PermissionError):
    """The viewer may not see what the page asks for."""


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking, in which language: a token's holder."""

    principal: Principal
    lang: str

    def may_read(self, department: str | None) -> bool:
        return self.principal.may_read(department)

    @property
    def masked(self) -> bool:
        return self.principal.masks_numbers

    def sees(self, view: View) -> bool:
        """Whether the viewer's role may see ``view`` (:func:`callwatch.api.access.may_see`)."""
        return may_see(self.principal, view)


def masker(site: SiteConfig) -> Masker:
    """The masker of ``site`` (the office's own numbers stay visible)."""
    return Masker(site.directory.is_ours)


def show_number(site: SiteConfig, viewer: Viewer | None) -> Callable[[str | None], str | None]:
    """A party as the viewer may see it (masked for trainers; ``None``: always masked)."""
    if viewer is not None and not viewer.masked:
        return lambda n: n
    m = masker(site)
    return m.number


def shown_id(site: SiteConfig, viewer: Viewer | None, call_id: str) -> str:
    """A call id as the viewer may see it: as it is; for a trainer a reference when it holds a
    number (the pages open it again); in an export (``None``) with the number masked."""
    if viewer is not None and not viewer.masked:
        return call_id
    if viewer is None:
        return masker(site).text(call_id)
    return masker(site).identifier(call_id)


def local(site: SiteConfig, ts: int | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """Capture time on the site's clock."""
    return "" if ts is None else local_datetime(ts, site.timezone).strftime(fmt)


def visible_departments(site: SiteConfig, viewer: Viewer) -> list[str]:
    """The site's departments the viewer may read, in site order."""
    return [d.name for d in site.directory.departments if viewer.may_read(d.name)]


def department(
    store: Store,
    site: SiteConfig,
    viewer: Viewer,
    name: str,
    week: IsoWeek,
    now: int | None = None,
) -> dict[str, Any]:
    """One department's week: rules with the charter's promise, extensions, calls by hour,
    breaches with links. ``next`` is None when the next week has not begun by ``now``."""
    if name not in [d.name for d in site.directory.departments]:
        raise PageNotFound(name)
    if not viewer.may_read(name):
        raise PageForbidden(name)
    report = build.weekly_report(store, site, week, department=name)
    part = report.departments[0]
    show = show_number(site, viewer)
    hours = [h for h in part.by_hour if 7 <= h.hour <= 20 or h.offered]
    chart = charts.hours_svg(
        [h.hour for h in hours],
        [h.answered for h in hours],
        [h.missed for h in hours],
        (tr("report.answered", viewer.lang), tr("report.missed", viewer.lang)),
        viewer.lang,
    )
    raw = (
        {
            b.call_id: b
            for b in fetch_period(
                store, site.name, report.start_us, report.end_us, department=name
            ).breaches
        }
        if not viewer.masked
        else {}
    )
    breaches = [
        {
            "call": shown_id(site, viewer, b.call_id),
            "when": local(site, b.started_us, "%m-%d %H:%M"),
            "extension": b.extension,
            "caller": show(raw[b.call_id].caller) if b.call_id in raw else b.caller,
            "rule": b.rule,
            "measured": b.measured,
            "limit": b.limit,
            "rings": b.rings,
            "limit_rings": b.limit_rings,
        }
        for b in part.breaches
    ]
    return {
        "name": name,
        "report": report,
        "part": part,
        "week": str(week),
        "previous": str(week.previous()),
        "next": (
            str(week.shift(1))
            if now is None or week.shift(1).bounds(site.timezone)[0] <= now
            else None
        ),
        "start": local(site, report.start_us, "%Y-%m-%d"),
        "end": local(site, report.end_us - 1, "%Y-%m-%d"),
        "hours_chart": chart,
        "breaches": breaches,
        "profile": site.profile_for(name),
        "rules": RULES,
    }


def call(
    store: Store, site: SiteConfig, viewer: Viewer | None, call_id: str, lang: str
) -> dict[str, Any]:
    """The replay of one call: summary, verdicts, time line, ladder. ``viewer`` None means an
    export: numbers masked."""
    real = masker(site).resolve(call_id)
    doc = None if real is None else store.call(real)
    if doc is None or real is None:
        raise PageNotFound(call_id)
    call_id = real
    if viewer is not None and not viewer.may_read(doc.get("department")):
        raise PageForbidden(call_id)
    profile = _profile(site, doc)
    show = show_number(site, viewer)
    hide = (lambda s: s) if viewer is not None and not viewer.masked else masker(site).text
    legs = call_legs(store, call_id)
    timeline = build_timeline(
        doc,
        legs,
        call_events(store, call_id),
        profile,
        lang=lang,
        show=show,
        attempts=_attempts(store, site, doc),
    )
    sip_ids = list(dict.fromkeys([leg.sip_call_id for leg in legs] + list(doc.get("legs", []))))
    ladder = build_ladder(
        store.messages(sip_ids),
        timeline.start_us,
        hide=hide,
        clock=lambda us: local(site, us, "%H:%M:%S.%f")[:-3],
    )
    return {
        "id": shown_id(site, viewer, call_id),
        "doc": doc,
        "caller": show(doc.get("caller")),
        "dialled": show(doc.get("dialled")),
        "started": local(site, timeline.start_us, "%Y-%m-%d %H:%M:%S"),
        "profile": profile,
        "verdicts": doc.get("verdicts", []),
        "timeline": timeline,
        "timeline_svg": timeline_svg(timeline, lang, WIDE) + timeline_svg(timeline, lang, NARROW),
        "legend": legend(timeline),
        "timeline_json": json.dumps(timeline.to_json(), ensure_ascii=False).replace("</", "<\\/"),
        "ladder": ladder,
        "ladder_head": "".join(
            header_svg(ladder, lang, site.timezone, lay) for lay in (ladders.WIDE, ladders.NARROW)
        ),
        "ladder_rows": [
            (step, step_svg(ladder, step, lang) + step_svg(ladder, step, lang, ladders.NARROW))
            for step in ladder.steps
        ],
    }


def _attempts(store: Store, site: SiteConfig, doc: dict[str, Any]) -> list[AttemptRow]:
    """The calls back to the number of the callback ``doc`` opened, up to the one that closed
    it (every later one while it is still open or missed)."""
    callback = doc.get("callback")
    if not callback or not callback.get("opened_at") or not callback.get("number"):
        return []
    back = callback.get("called_back_at")
    return callback_attempts(
        store,
        site.name,
        callback["number"],
        doc.get("department"),
        parse_iso(callback["opened_at"]),
        parse_iso(back) if back else None,
    )


def training(
    store: Store, site: SiteConfig, viewer: Viewer, now: int, weeks: int
) -> dict[str, Any]:
    """Breaches per extension over the last ``weeks`` weeks, beside the charter's steps."""
    week = week_of(now, site.timezone)
    start = week.shift(-(weeks - 1)).bounds(site.timezone)[0]
    end = week.bounds(site.timezone)[1]
    names = visible_departments(site, viewer)
    facts = fetch_period(store, site.name, start, end, departments=names)
    out = []
    for name in names:
        profile = site.profile_for(name)
        steps = escalation.steps_for(profile.id)
        calls = [c for c in facts.calls if c.department == name]
        tallies = [v for v in facts.verdicts if v.department == name]
        by_ext: dict[str | None, list[Any]] = {}
        for b in facts.breaches:
            if b.department == name:
                by_ext.setdefault(b.extension, []).append(b)
        rows: list[dict[str, Any]] = []
        for row in data.extension_rows(calls, tallies):
            if not row.total_breaches:
                continue
            step = escalation.reached(steps, row.total_breaches) if row.extension else None
            breached: dict[str, tuple[list[str], str]] = {}  # call shown -> (rules, when)
            for b in by_ext.get(row.extension, []):
                rules, _ = breached.setdefault(
                    shown_id(site, viewer, b.call_id),
                    ([], local(site, b.started_us, "%m-%d %H:%M")),
                )
                rules.append(b.rule)
            rows.append(
                {
                    "extension": row.extension,
                    "breaches": row.breaches,
                    "total": row.total_breaches,
                    "step": step.text(viewer.lang) if step else "",
                    "calls": [(call, rules, when) for call, (rules, when) in breached.items()],
                }
            )
        rows.sort(key=lambda r: -r["total"])
        out.append({"name": name, "profile": profile, "steps": steps, "rows": rows})
    return {
        "weeks": weeks,
        "start": local(site, start, "%Y-%m-%d"),
        "end": local(site, end - 1, "%Y-%m-%d"),
        "departments": out,
        "rules": RULES,
    }


def _profile(site: SiteConfig, doc: dict[str, Any]) -> Profile:
    charter = doc.get("charter")
    if charter in site.profiles:
        return site.profiles[charter]
    return site.profile_for(doc.get("department"))
