"""Who is ringing now: the legs of outside callers that are offered or ringing, neither
answered nor ended, kept from the leg events the live feed sees.

A leg starts ringing with its ``offered`` event when its caller is not the office's own (an
outside caller; staff calling out or calling each other are not waiting on anyone), and stops
with ``answered`` or ``ended``. ``alerting`` tells which extension rings. A leg with no end
after ``stale_us`` (an end the capture lost) is dropped, as are the oldest legs beyond
``limit``. Per department the legs are shown as calls: one row per caller (a PBX's two legs
of one ringing call, trunk and phone, are one row), ringing since its first leg was offered.
Times are capture µs.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any

from callwatch.bus.topics import event_department
from callwatch.calls.directory import Directory
from callwatch.sip.events import LegEvent
from callwatch.timefmt import iso

DEFAULT_LIMIT = 500
STALE_US = 30 * 60 * 1_000_000


@dataclass(frozen=True, slots=True)
class RingingLeg:
    """One leg ringing: its department, caller, the extension it rings and since when."""

    department: str | None
    caller: str | None
    extension: str | None
    since: int


class RingingBoard:
    """The legs ringing now, fed leg events in capture order."""

    def __init__(
        self, directory: Directory, *, limit: int = DEFAULT_LIMIT, stale_us: int = STALE_US
    ) -> None:
        self._directory = directory
        self._limit = limit
        self._stale_us = stale_us
        self._legs: OrderedDict[str, RingingLeg] = OrderedDict()

    def feed(self, event: LegEvent) -> set[str | None]:
        """Take one leg event; return the departments whose ringing calls changed."""
        changed: set[str | None] = set()
        kind = event.kind
        leg = self._legs.get(event.leg)
        if kind == "offered" and leg is None:
            if not self._directory.is_ours(event.from_user):
                dept = event_department(event, self._directory)
                ext = event.to_user if self._directory.is_staff(event.to_user) else None
                self._legs[event.leg] = RingingLeg(dept, event.from_user, ext, event.at)
                changed.add(dept)
        elif kind == "alerting" and leg is not None:
            by = getattr(event, "by", None)
            if self._directory.is_staff(by) and by != leg.extension:
                self._legs[event.leg] = replace(leg, extension=by)
                changed.add(leg.department)
        elif kind in ("answered", "ended") and leg is not None:
            del self._legs[event.leg]
            changed.add(leg.department)
        changed |= self._prune(event.at)
        return changed

    def _prune(self, now: int) -> set[str | None]:
        changed: set[str | None] = set()
        while self._legs:
            key, oldest = next(iter(self._legs.items()))
            if len(self._legs) <= self._limit and now - oldest.since <= self._stale_us:
                break
            del self._legs[key]
            changed.add(oldest.department)
        return changed

    def calls(self, department: str | None) -> list[dict[str, Any]]:
        """The calls ringing in ``department``, longest first: caller, extension, since."""
        rows: dict[str | None, dict[str, Any]] = {}
        for leg in self._legs.values():
            if leg.department != department:
                continue
            row = rows.get(leg.caller)
            if row is None:
                rows[leg.caller] = row = {"caller": leg.caller, "extension": None, "since_us": 0}
                row["since_us"] = leg.since
            row["since_us"] = min(row["since_us"], leg.since)
            if leg.extension is not None:
                row["extension"] = leg.extension
        out = sorted(rows.values(), key=lambda r: r["since_us"])
        for row in out:
            row["since"] = iso(row["since_us"])
        return out

    def departments(self) -> list[str | None]:
        """The departments with a call ringing."""
        return list(dict.fromkeys(leg.department for leg in self._legs.values()))
