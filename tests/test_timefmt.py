"""Capture time to and from ISO 8601 text."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from callwatch.timefmt import iso, iso_or_none, parse_iso

_FIRST = -30_610_224_000_000_000  # 1000-01-01T00:00:00Z
_LAST = 253_402_300_799_999_999  # 9999-12-31T23:59:59.999999Z


def test_iso_formats_microseconds_with_a_z() -> None:
    assert iso(0) == "1970-01-01T00:00:00.000000Z"
    assert iso(1_795_473_630_123_456) == "2026-11-23T22:40:30.123456Z"
    assert iso(-1) == "1969-12-31T23:59:59.999999Z"
    assert iso_or_none(None) is None


@given(st.integers(min_value=_FIRST, max_value=_LAST))
def test_iso_is_strftime_text_and_parses_back(ts: int) -> None:
    dt = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ts)
    assert iso(ts) == dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert parse_iso(iso(ts)) == ts
