"""Token times as people write and read them: an expiry given as ``90d`` or a date, and
stamps shown on the site's clock (``2026-11-25 14:30 KST``), for the command line and the
admin page."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_SECOND = 1_000_000
_SPAN = re.compile(r"^(\d{1,5})\s*([mhdw])$")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86_400, "w": 7 * 86_400}


class ExpiryError(ValueError):
    """An expiry that is neither a span (``90d``) nor a date or time."""


def parse_expiry(text: str, now_us: int, timezone: str) -> int:
    """The expiry (µs) that ``text`` names: a span from ``now_us`` (``30m``, ``12h``, ``90d``,
    ``2w``), a date (``2027-01-31``: valid through that day on the site's clock) or a time
    (``2027-01-31T18:00``; without an offset, on the site's clock). Raises
    :class:`ExpiryError`."""
    value = text.strip().lower()
    span = _SPAN.match(value)
    if span is not None:
        amount = int(span.group(1))
        if amount == 0:
            raise ExpiryError(f"{text!r}: a token cannot expire at once")
        return now_us + amount * _UNIT_SECONDS[span.group(2)] * _SECOND
    zone = ZoneInfo(timezone)
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        else:
            moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=zone)
    except ValueError:
        raise ExpiryError(
            f"{text!r} is not an expiry: give a span (30m, 12h, 90d, 2w), a date "
            "(2027-01-31) or a time (2027-01-31T18:00)"
        ) from None
    return int(moment.timestamp()) * _SECOND + moment.microsecond


def local_time(us: int | None, timezone: str, empty: str = "-") -> str:
    """``us`` on the site's clock to the minute, with the zone's abbreviation
    (``2026-11-25 14:30 KST``); ``empty`` for None."""
    if us is None:
        return empty
    moment = datetime.fromtimestamp(us / _SECOND, UTC).astimezone(ZoneInfo(timezone))
    return moment.strftime("%Y-%m-%d %H:%M %Z")
