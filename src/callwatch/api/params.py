"""Parsing of query parameters: times, ISO weeks, paging cursors. Bad input → 400."""

from __future__ import annotations

import base64
import json
import re
from datetime import date
from typing import Any

from callwatch.api.errors import BadRequest
from callwatch.timefmt import parse_iso

MAX_LIMIT = 500
DEFAULT_LIMIT = 100
_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")
_MIN_US = 0
_MAX_US = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


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


def week_param(text: str) -> str:
    """An ISO week ``2026-W47``, checked (the week exists) and returned as given."""
    match = _WEEK.match(text.strip())
    if match is None:
        raise BadRequest(f"week={text!r} is not an ISO week (e.g. 2026-W47)")
    try:
        date.fromisocalendar(int(match.group(1)), int(match.group(2)), 1)
    except ValueError:
        raise BadRequest(f"week={text!r} does not exist") from None
    return text.strip()


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
    ):
        raise BadRequest(f"cursor={text!r} is not a cursor this API handed out")
    return key
