"""Deadlines on the clock or on office hours.

A charter's "1시간 이내" runs on the clock. A site may choose office hours instead: the deadline
then advances only inside the opening hours of working days (weekends and the site's public
holidays are closed; the holiday calendar is data handed in by whoever loads the site). All
times are capture microseconds; the calendar is read in the site's time zone (``zoneinfo``).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property
from zoneinfo import ZoneInfo

from callwatch.charter.errors import CharterError
from callwatch.fieldpickle import pickle_by_fields

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_MAX_DAYS = 3_700  # ten years of calendar: a deadline further out is a configuration error


@dataclass(frozen=True)
class BusinessHours:
    """Office hours: ``start``–``end`` local time on ``weekdays`` (0 = Monday), in ``timezone``,
    closed on the days in ``holidays`` (any container of dates, such as a ``holidays`` package
    calendar)."""

    timezone: str = "Asia/Seoul"
    start: time = time(9, 0)
    end: time = time(18, 0)
    weekdays: frozenset[int] = field(default_factory=lambda: frozenset(range(5)))
    holidays: Container[date] = frozenset()

    def __post_init__(self) -> None:
        if not self.start < self.end:
            raise CharterError(f"office hours start {self.start} is not before end {self.end}")
        if not self.weekdays or not self.weekdays <= frozenset(range(7)):
            raise CharterError("office hours need at least one weekday among 0 (Mon) .. 6 (Sun)")

    @cached_property
    def _zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def is_open_day(self, day: date) -> bool:
        """True when ``day`` is a working day (a listed weekday, not a public holiday)."""
        if day.weekday() not in self.weekdays:
            return False
        return day not in self.holidays

    def add(self, start_us: int, seconds: float) -> int:
        """The capture time ``seconds`` of office time after ``start_us``.

        Time outside office hours does not count: a call missed on Friday evening with one
        hour to go is due at 10:00 on the next working day.
        """
        remaining = round(seconds * 1_000_000)
        cursor = start_us
        day = self._local(cursor).date()
        for _ in range(_MAX_DAYS):
            if self.is_open_day(day):
                opens = self._at(day, self.start)
                closes = self._at(day, self.end)
                cursor = max(cursor, opens)
                if cursor < closes:
                    if remaining <= closes - cursor:
                        return cursor + remaining
                    remaining -= closes - cursor
                    cursor = closes
            day += timedelta(days=1)
        raise CharterError(f"no deadline within {_MAX_DAYS} days of office hours")

    def _local(self, ts: int) -> datetime:
        return (_EPOCH + timedelta(microseconds=ts)).astimezone(self._zone)

    def _at(self, day: date, clock: time) -> int:
        moment = datetime.combine(day, clock, tzinfo=self._zone)
        return (moment - _EPOCH) // _ONE_US


# the site goes to the store process: by field values (fieldpickle)
pickle_by_fields(BusinessHours)
