"""ISO weeks in a site's time zone: ``2026-W47`` is Monday 00:00 to the next Monday 00:00
local time, handed to queries as UTC capture microseconds ``[start, end)``.

Local midnights are converted with :mod:`zoneinfo`, so a zone with daylight saving gets a week
of 167 or 169 hours, as the clock on the wall says.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from callwatch.reports.errors import WeekError
from callwatch.timefmt import MICROS

_WEEK = re.compile(r"^\s*(\d{4})-?W(\d{1,2})\s*$", re.IGNORECASE)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, order=True)
class IsoWeek:
    """An ISO 8601 week (``year`` is the ISO week-numbering year)."""

    year: int
    week: int

    def __post_init__(self) -> None:
        try:
            date.fromisocalendar(self.year, self.week, 1)
        except ValueError:
            raise WeekError(f"{self.year}-W{self.week:02d} does not exist") from None

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    def shift(self, weeks: int) -> IsoWeek:
        """The week ``weeks`` later (negative: earlier)."""
        year, week, _ = (self.monday + timedelta(weeks=weeks)).isocalendar()
        return IsoWeek(year, week)

    def previous(self) -> IsoWeek:
        return self.shift(-1)

    def bounds(self, timezone: str) -> tuple[int, int]:
        """``[start, end)`` in capture microseconds: local Monday 00:00 to the next one."""
        zone = ZoneInfo(timezone)
        return _local_midnight(self.monday, zone), _local_midnight(
            self.monday + timedelta(days=7), zone
        )


def parse_week(text: str) -> IsoWeek:
    """``2026-W47`` (also ``2026W47``, ``2026-w7``) as an :class:`IsoWeek`; raises
    :class:`WeekError` for anything else or a week the year does not have."""
    match = _WEEK.match(text) if isinstance(text, str) else None
    if match is None:
        raise WeekError(f"{text!r} is not an ISO week like 2026-W47")
    return IsoWeek(int(match.group(1)), int(match.group(2)))


def week_of(ts: int, timezone: str) -> IsoWeek:
    """The ISO week that capture time ``ts`` falls in, on the clock of ``timezone``."""
    local = (_EPOCH + timedelta(microseconds=ts)).astimezone(ZoneInfo(timezone))
    year, week, _ = local.isocalendar()
    return IsoWeek(year, week)


def local_datetime(ts: int, timezone: str) -> datetime:
    """Capture time ``ts`` as an aware datetime in ``timezone``."""
    return (_EPOCH + timedelta(microseconds=ts)).astimezone(ZoneInfo(timezone))


def local_time(day: date, hour: int, timezone: str) -> int:
    """Capture µs of ``hour``:00 on local ``day`` in ``timezone``."""
    return _local_midnight(day, ZoneInfo(timezone), hour)


def _local_midnight(day: date, zone: ZoneInfo, hour: int = 0) -> int:
    local = datetime(day.year, day.month, day.day, hour, tzinfo=zone)
    delta = local.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds
