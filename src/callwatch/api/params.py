"""Parsing of query parameters: times, ISO weeks, paging cursors. Bad input → 400.

The bounds keep every value inside what the store and the calendar can hold: times from 1970
to 9999, report weeks of the ISO years :data:`MIN_WEEK_YEAR` to :data:`MAX_WEEK_YEAR` (a
report also reads the week before, a page links the week after), cursor integers within a
signed 64-bit column.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from callwatch.api.errors import BadRequest
from callwatch.reports.errors import WeekError
from callwatch.reports.weeks import IsoWeek, parse_week
from callwatch.timefmt import parse_iso

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
_MIN_US = 0
_MAX_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z
MIN_WEEK_YEAR = 1970
MAX_WEEK_YEAR = 9998
_INT64 = (-(2**63), 2**63 - 1)


def time_param(name: str, text: str | None) -> int | None:
    """An ISO 8601 time (``Z`` or an offset; naive means UTC) as capture µs, or None."""
    if text is None or text == "":
        return None
    try:
        value = parse_iso(text)
    except (ValueError, OverflowError):
        raise BadRequest(
            f"{name}={text!r} is not an ISO 8601 time (e.g. 2026-11-23T09:00:00+09:00)"
        ) from None
    if not _MIN_US <= value <= _MAX_US:
        raise BadRequest(f"{name}={text!r} is out of range (1970 to 9999)")
    return value


def period(since: str | None, until: str | None) -> tuple[int | None, int | None]:
    """``from``/``to`` as µs; ``to`` must come after ``from``."""
    start, end = time_param("from", since), time_param("to", until)
    if start is not None and end is not None and end <= start:
        raise BadRequest(f"to={until!r} must be after from={since!r}")
    return start, end


def report_week(text: str) -> IsoWeek:
    """The ISO week ``text`` (``2026-W47``) a report or page may show: it exists and its year
    is between :data:`MIN_WEEK_YEAR` and :data:`MAX_WEEK_YEAR`. Raises :class:`WeekError`
    (the pages' error) with a message saying which."""
    week = parse_week(text)
    if not MIN_WEEK_YEAR <= week.year <= MAX_WEEK_YEAR:
        raise WeekError(
            f"{week} is out of range (weeks of {MIN_WEEK_YEAR} to {MAX_WEEK_YEAR} only)"
        )
    return week


def week_param(text: str) -> str:
    """An ISO week ``2026-W47``, checked by :func:`report_week` (400 otherwise) and returned
    in its canonical form."""
    try:
        return str(report_week(text))
    except WeekError as exc:
        raise BadRequest(f"week={text!r}: {exc}") from None


def limit_param(limit: int | None) -> int:
    """A page size between 1 and :data:`MAX_LIMIT` (default :data:`DEFAULT_LIMIT`)."""
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise BadRequest(f"limit={limit} must be between 1 and {MAX_LIMIT}")
    return limit


def encode_cursor(key: list[Any]) -> str:
    """An opaque cursor for the keyset ``key`` (the sort key of the last item returned)."""
    raw = json.dumps(key, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_cursor(text: str | None, types: tuple[type, ...]) -> list[Any] | None:
    """The keyset of a cursor from :func:`encode_cursor` whose items have ``types``."""
    if text is None or text == "":
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        key = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(f"cursor={text!r} is not a cursor this API handed out") from None
    if (
        not isinstance(key, list)
        or len(key) != len(types)
        or not all(type(k) is t for k, t in zip(key, types, strict=True))
        or any(type(k) is int and not _INT64[0] <= k <= _INT64[1] for k in key)
    ):
        raise BadRequest(f"cursor={text!r} is not a cursor this API handed out")
    return key
