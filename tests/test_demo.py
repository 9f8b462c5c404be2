"""The demo data set: shifting and rewriting captures, the seeded mix, ``prepare_demo``."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest

from callwatch.api.auth import TokenStore
from callwatch.capture import CaptureStats, Packet, read_capture
from callwatch.demo import (
    DemoError,
    build_demo,
    call_ids,
    find_fixtures,
    prepare_demo,
    rewrite_payload,
    shift_packets,
)
from callwatch.settings import Settings
from callwatch.store import Store
from test_web_support import ANCHOR, ROOT, site

FIXTURES = ROOT / "sip_fixtures"
WEEK_US = 7 * 86_400 * 1_000_000


@functools.cache
def packets(name: str) -> tuple[Packet, ...]:
    return tuple(read_capture(FIXTURES / f"{name}.pcap", CaptureStats()))


def test_shift_packets_moves_only_the_time() -> None:
    original = packets("answered_1st_ring")
    moved = shift_packets(original, 3_600_000_000)
    assert [p.ts - 3_600_000_000 for p in moved] == [p.ts for p in original]
    for a, b in zip(original, moved, strict=True):
        assert (a.src, a.dst, a.payload, a.frame) == (b.src, b.dst, b.payload, b.frame)
    assert shift_packets(original, -5)[0].ts == original[0].ts - 5


def test_rewrite_renames_call_ids_everywhere_and_maps_uri_users() -> None:
    capture = packets("attended_transfer")
    ids = call_ids(capture)
    assert b"attended-consult@callwatch.test" in ids
    refer = next(p for p in capture if p.payload.startswith(b"REFER "))
    out = rewrite_payload(refer.payload, "d00007", {"2001": "3004", "2002": "3008"}, ids)
    head = out.partition(b"\r\n\r\n")[0]
    assert b"Call-ID: attended@callwatch.test-d00007\r\n" in head
    assert b"Replaces=attended-consult%40callwatch.test-d00007%3Bto-tag" in head
    assert b"sip:3008@" in head and b"sip:3004@" in head
    assert b"sip:2001@" not in head and b"sip:2002@" not in head
    assert b":16091" in head  # ports are not numbers to map
    new = next(p for p in capture if b"Replaces: " in p.payload)
    out = rewrite_payload(new.payload, "d00007", {}, ids)
    assert b"Replaces: attended-consult@callwatch.test-d00007;to-tag=ac-to" in out


def test_rewrite_leaves_the_body_alone() -> None:
    invite = packets("answered_1st_ring")[0]
    body = invite.payload.partition(b"\r\n\r\n")[2]
    assert body  # SDP
    out = rewrite_payload(invite.payload, "x1", {"01012345678": "01099998888"})
    assert out.endswith(b"\r\n\r\n" + body)
    assert b"01099998888" in out and b"01012345678" not in out.partition(b"\r\n\r\n")[0]


def test_correlation_headers_get_the_replay_suffix() -> None:
    invite = packets("b2bua_pair")[0]
    out = rewrite_payload(invite.payload, "d00042", {})
    assert b"X-CID: cw-b2bua-0001-d00042\r\n" in out


def test_missing_fixtures_are_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DemoError, match=r"sip_fixtures/\*\.pcap"):
        find_fixtures(tmp_path)
    assert find_fixtures() == FIXTURES
    store = Store.open(f"sqlite:///{tmp_path / 'x.sqlite'}")
    with pytest.raises(DemoError):
        build_demo(store, site(), ANCHOR, fixtures=tmp_path)


def _demo(folder: Path, weeks: int = 2) -> Store:
    store = Store.open(f"sqlite:///{folder / 'demo.sqlite'}", site=site().name)
    build_demo(store, site(), ANCHOR, weeks=weeks, calls_per_day=10)
    return store


def test_demo_is_deterministic_for_one_anchor(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a, b = _demo(tmp_path / "a"), _demo(tmp_path / "b")
    assert a.calls() == b.calls()
    assert a.counts() == b.counts()


def test_demo_fills_every_page(tmp_path: Path) -> None:
    store = _demo(tmp_path, weeks=3)
    calls = store.calls()
    assert len(calls) > 100
    assert all(c["complete"] for c in calls)
    started = sorted(c["started_at"] for c in calls)
    assert started[-1] < "2026-11-25T05:30:00Z"
    assert started[0] >= "2026-11-03"  # three weeks on the Seoul clock: from Monday 11-09
    assert {c["department"] for c in calls} == {"민원", "세무"}
    failed = {v.rule for v in store.verdict_counts() if not v.ok}
    assert failed == {"answer", "transfer", "hangup", "callback"}
    statuses = {cb.status for cb in store.callbacks()}
    assert {"open", "kept", "missed"} <= statuses
    open_now = store.callbacks(status="open")
    assert all(cb.due_at is None or cb.due_at > ANCHOR for cb in open_now)
    callers = {c["caller"] for c in calls if c["direction"] == "inbound"}
    assert len(callers) > len(calls) // 2  # varied numbers, not one caller
    one = calls[len(calls) // 2]
    assert store.messages(one["legs"])  # raw SIP kept for the ladder


def test_prepare_demo_uses_its_own_store_and_reuses_its_admin_token(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, database_url="postgresql+psycopg://nobody@nowhere/x")
    first = prepare_demo(site(), settings, ANCHOR)
    assert first.settings.store_url == f"sqlite:///{(tmp_path / 'demo.sqlite').resolve()}"
    assert first.summary is not None and first.summary.calls > 500
    store = Store.open(first.settings.store_url)
    tokens = TokenStore(store.engine)
    principal = tokens.verify(first.token)
    assert principal is not None and principal.role == "admin" and not first.reused
    assert first.token_file == tmp_path / "demo-token"
    assert first.token_file.read_text().strip() == first.token
    assert first.token_file.stat().st_mode & 0o777 == 0o600
    again = prepare_demo(site(), settings, ANCHOR)
    assert again.summary is None  # filled once
    assert again.token == first.token and again.reused
    assert store.counts()["calls"] == first.summary.calls
    assert first.summary.first >= ANCHOR - 13 * WEEK_US
    # a revoked token, or a file others may read, gets a new token; the old ones are revoked
    tokens.revoke(first.token)
    third = prepare_demo(site(), settings, ANCHOR)
    assert third.token != first.token and not third.reused
    third.token_file.chmod(0o644)
    fourth = prepare_demo(site(), settings, ANCHOR)
    assert fourth.token != third.token and fourth.token_file.stat().st_mode & 0o777 == 0o600
    assert tokens.verify(third.token) is None and tokens.verify(fourth.token) is not None
    assert [r.id for r in tokens.list() if r.active] == [fourth.token.split("_")[1]]
    store.close()
