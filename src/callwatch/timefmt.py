"""Capture time: integer microseconds since the Unix epoch, UTC.

Every timestamp in the core is an ``int`` of microseconds taken from the capture (pcap or HEP),
never from the wall clock. This module converts them to and from ISO 8601 text.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NAIVE_EPOCH = datetime(1970, 1, 1)

MICROS = 1_000_000


def utc(ts: int) -> datetime:
    """Capture time as an aware UTC datetime (what the store's ``*_at`` columns hold)."""
    return _EPOCH + timedelta(microseconds=ts)


def iso(ts: int) -> str:
    """Format capture time as ``2026-11-23T01:02:03.456789Z``."""
    # isoformat of a naive UTC time is the same text as strftime("%Y-%m-%dT%H:%M:%S.%f") for
    # years 1000-9999, in half the time (the store formats several per call).
    return (_NAIVE_EPOCH + timedelta(microseconds=ts)).isoformat(timespec="microseconds") + "Z"


def iso_or_none(ts: int | None) -> str | None:
    """:func:`iso`, passing None through (a time that has not happened)."""
    return None if ts is None else iso(ts)


def parse_iso(text: str) -> int:
    """Parse an ISO 8601 time (``Z`` or an offset; naive means UTC) into capture time."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    dt = datetime.fromisoformat(value)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds


def seconds(delta_us: int) -> float:
    """Microseconds to seconds, rounded to the microsecond."""
    return round(delta_us / MICROS, 6)
