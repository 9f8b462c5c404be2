"""The rows the live pages share (the wallboard and the dashboard): a breach in the feed, a
callback waiting with its countdown, a call ringing now, as plain data for the macros of
``_live.html``; and the countdown's words for the script (``static/live.js``), which ticks
every countdown of a page from the server's clock and turns it overdue.

Both pages draw these rows with the same macros, and ``/wall/live`` pushes rows drawn by
them too (:class:`callwatch.web.wall.LiveRenderer`), so a row looks the same whether the
page drew it or the stream brought it.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from datetime import datetime, time, timedelta
from typing import Any

from callwatch import i18n
from callwatch.charter.callbacks import Callback
from callwatch.charter.registry import HOUR, MINUTE, SECOND, Unit
from callwatch.reports.weeks import local_datetime
from callwatch.site import SiteConfig
from callwatch.store import Store
from callwatch.timefmt import MICROS
from callwatch.web.strings import tr
from callwatch.web.views import Viewer, local, masker, show_number, shown_id

WAITING = ("open", "missed")
"""Callback statuses still owed a call back (``missed``: past its deadline; the pages list
those of today, and every ``open`` one)."""


def day_bounds(now: int, timezone: str) -> tuple[int, int]:
    """The site's calendar day holding ``now``: [start, end) in capture µs."""
    today = local_datetime(now, timezone).date()
    zone = local_datetime(now, timezone).tzinfo
    start = datetime.combine(today, time(), zone)
    end = datetime.combine(today + timedelta(days=1), time(), zone)
    return int(start.timestamp() * MICROS), int(end.timestamp() * MICROS)


def waiting_callbacks(store: Store, names: Collection[str], day_start: int) -> list[Callback]:
    """The staff's callbacks still owed in ``names``: every ``open`` one and those ``missed``
    since ``day_start``."""
    return [
        cb
        for status in WAITING
        for cb in store.callbacks(status=status, staff=True)
        if cb.department in names and (status == "open" or cb.opened_at >= day_start)
    ]


def countdown_words(lang: str) -> dict[str, str]:
    """The catalogue's wording of a countdown for the script (``{value}`` and ``{left}``
    placeholders): seconds, minutes, hours, hours and minutes, left, overdue, ringing."""

    def unit(u: Unit) -> str:
        return "{value}" + (u.ko if lang == "ko" else i18n.NBSP + u.en)

    hours_minutes = i18n.t("unit.hours_minutes", lang)
    if lang != "ko":
        hours_minutes = hours_minutes.replace("} ", "}" + i18n.NBSP)
    return {
        "s": unit(SECOND),
        "m": unit(MINUTE),
        "h": unit(HOUR),
        "hm": hours_minutes,
        "left": tr("time.left", lang, left="{left}"),
        "overdue": tr("time.overdue", lang, left="{left}"),
        "ringing": tr("wall.ringing_for", lang, left="{left}"),
        "reconnecting": tr("wall.reconnecting", lang),
        "live": tr("wall.live", lang),
    }


def countdown(seconds: float, lang: str) -> str:
    """A time span as the countdown words it: whole seconds under a minute (``45초``), else as
    :func:`callwatch.i18n.span` does (``33분``, ``1시간 5분``)."""
    return i18n.span(round(seconds), lang)


class LiveRows:
    """The live pages' rows as one viewer sees them (words in the viewer's language, the
    site's clock, numbers masked for a trainer) at the clock's now."""

    def __init__(self, site: SiteConfig, viewer: Viewer, clock: Callable[[], int]) -> None:
        self.site = site
        self.viewer = viewer
        self.clock = clock
        self.show = show_number(site, viewer)
        self._hide = masker(site).text if viewer.masked else (lambda s: s)
        self._day = (0, 0)

    def today(self, ts: int | None) -> bool:
        """Whether ``ts`` falls on the site's day of the clock's now."""
        now = self.clock()
        if not self._day[0] <= now < self._day[1]:
            self._day = day_bounds(now, self.site.timezone)
        return ts is not None and self._day[0] <= ts < self._day[1]

    def stamp(self, ts: int | None) -> str:
        """A time on the site's clock: ``14:02`` today, ``11-24 14:02`` another day."""
        return local(self.site, ts, "%H:%M" if self.today(ts) else "%m-%d %H:%M")

    def breach(
        self,
        call: str,
        at: int | None,
        department: str | None,
        extension: str | None,
        caller: str | None,
        verdict: dict[str, Any],
    ) -> dict[str, Any]:
        """A breach as the feed lists it."""
        detail = verdict.get("detail")
        rule = verdict.get("rule") or ""
        return {
            "id": f"{call}:{rule}:{at}",
            "call": call,
            "when": local(self.site, at, "%H:%M:%S"),
            "day": local(self.site, at, "%m-%d"),
            "department": department,
            "extension": extension,
            "caller": caller,
            "rule": rule,
            "measured": verdict.get("measured"),
            "limit": verdict.get("limit"),
            "rings": verdict.get("rings"),
            "limit_rings": verdict.get("limit_rings"),
            "detail": self._hide(i18n.detail_text(detail, self.viewer.lang)) if detail else "",
        }

    def callback_row(
        self,
        department: str | None,
        call: str,
        number: str | None,
        status: str,
        opened: int,
        due: int | None,
    ) -> dict[str, Any]:
        """A callback waiting, with its countdown at the clock's now."""
        left = None if due is None else (due - self.clock()) / MICROS
        lang = self.viewer.lang
        if left is None:
            text = tr("time.no_deadline", lang)
        elif left >= 0:
            text = tr("time.left", lang, left=countdown(left, lang))
        else:
            text = tr("time.overdue", lang, left=countdown(-left, lang))
        return {
            "id": shown_id(self.site, self.viewer, call),
            "department": department,
            "number": self.show(number),
            "status": status,
            "opened": self.stamp(opened),
            "due": self.stamp(due),
            "due_us": due,
            "late": left is not None and left < 0,
            "left": text,
        }

    def callback_rows(self, callbacks: Collection[Callback]) -> list[dict[str, Any]]:
        """``callbacks`` as rows, the soonest deadline first (those without one last)."""
        rows = [
            self.callback_row(cb.department, cb.call, cb.number, cb.status, cb.opened_at, cb.due_at)
            for cb in callbacks
        ]
        rows.sort(key=lambda r: (r["due_us"] is None, r["due_us"] or 0))
        return rows

    def ringing_row(self, department: str | None, row: dict[str, Any]) -> dict[str, Any]:
        """A call ringing now, with how long at the clock's now."""
        since = row["since_us"]
        lang = self.viewer.lang
        ringing_for = countdown(max(self.clock() - since, 0) / MICROS, lang)
        return {
            "department": department,
            "caller": self.show(row.get("caller")),
            "extension": row.get("extension"),
            "since_us": since,
            "since": local(self.site, since, "%H:%M:%S"),
            "text": tr("wall.ringing_for", lang, left=ringing_for),
        }
