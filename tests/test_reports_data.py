"""Report figures from real captures stored in SQLite and PostgreSQL.

The expected numbers come from the fixtures' scenarios (sip_fixtures/README.md and the
``*.expected-calls.json`` files), not from running the report code:

- 민원 (Naju charter: answer before ring 3 = within 6.0 s, transfer ≤ 10 s, caller hangs up
  first, callback within 60 min) receives 20 inbound calls on 2026-11-23 around 20:15 KST
  (ISO week 2026-W48); 5 are missed: busy, caller_cancels (CANCEL at 4 s), ring_timeout
  (480 after 12 s), missed_then_callback_40min and _2h (CANCEL at 8 s).
- answer: 15 answered, only answered_3rd_ring late (7 s) → 14 kept; breached also by the three
  missed calls that rang past 6 s (ring_timeout, both missed_then_callback) → 4 breaches.
- transfer: blind (2.1 s) and attended (2.0 s) kept, transfer_slow (13 s) breached.
- hangup: agent_hangs_up_first and hep_kamailio's second call (agent BYE) breached → 13/2.
- callback: 40 min kept, 2 h late; busy, caller_cancels and ring_timeout stay open.
- rings at the answer: 14 calls on ring 1 (1.5–2.0 s), answered_3rd_ring on ring 3.
- 세무 (Mokpo charter) has only an internal call: nothing offered.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import test_store_fixtures as fx
from callwatch.config import load_site
from callwatch.demo import shift_packets
from callwatch.pipeline import CallPipeline
from callwatch.reports import data
from callwatch.reports.build import (
    UnknownDepartment,
    achievement_summary,
    compliance,
    weekly_report,
)
from callwatch.reports.weeks import IsoWeek, parse_week, week_of
from callwatch.store import Store
from callwatch.timefmt import parse_iso

_pg_cleanup = fx._pg_cleanup
pg_database = fx.pg_database
database_url = fx.database_url
store = fx.store


def fill(st: Store, paths: list[Path] | None = None) -> None:
    st.sync_directory(fx.site())
    for path in paths or fx.pcaps():
        st.save(fx.outputs(path))


def store_shifted(st: Store, name: str, start_local: str, site=None) -> None:
    """Store one fixture with its first packet moved to ``start_local`` (ISO with offset)."""
    site = site or fx.site()
    packets = fx.packets(fx.FIXTURES / f"{name}.pcap")
    moved = shift_packets(packets, parse_iso(start_local) - packets[0].ts)
    pipe = CallPipeline(site)
    out = []
    for packet in moved:
        out.extend(pipe.push(packet))
    out.extend(pipe.flush())
    st.save(out)


def test_weekly_report_matches_the_fixtures(store: Store) -> None:
    fill(store)
    report = weekly_report(store, fx.site(), "2026-W48")
    assert report.start_local == "2026-11-23T00:00:00+09:00"
    assert report.end_local == "2026-11-30T00:00:00+09:00"
    assert [d.compliance.department for d in report.departments] == ["민원", "세무"]
    civil = report.departments[0].compliance
    assert civil.volume == data.Volume(offered=20, answered=15, missed=5)
    counts = {r.rule: (r.passed, r.failed) for r in civil.rules}
    assert counts == {"answer": (14, 4), "transfer": (2, 1), "hangup": (13, 2), "callback": (1, 1)}
    assert civil.rule("answer").rate == pytest.approx(14 / 18, abs=1e-6)
    assert civil.rule("hangup").rate == pytest.approx(13 / 15, abs=1e-6)
    assert civil.callbacks == data.CallbackCounts(kept=1, late=1, missed=0, open=3)
    assert civil.transfer.count == 3
    assert civil.transfer.median == pytest.approx(2.09, abs=0.05)  # blind transfer's 2.1 s
    # p90 of (2.0, 2.1, 13.0) s, interpolated: 2.1 + 0.8 × (13.0 − 2.1)
    assert civil.transfer.p90 == pytest.approx(2.09 + 0.8 * (12.99 - 2.09), abs=0.05)
    assert civil.ring.count == 15
    assert 1.4 < civil.ring.median < 1.6
    assert civil.handset_delay_s == 1.0  # Naju: "1초 이상 경과한 후"
    assert civil.rule("answer").promise.quote.startswith("전화는 벨소리가 3회")
    bins = {b.rings: b.count for b in report.departments[0].ring_bins}
    assert bins == {1: 14, 2: 0, 3: 1, 4: 0}
    hours = {h.hour: (h.offered, h.answered, h.missed) for h in report.departments[0].by_hour}
    assert hours[20] == (20, 15, 5)  # 11:15 UTC is 20:15 in Seoul
    assert sum(h.offered for h in report.departments[0].by_hour) == 20
    tax = report.departments[1].compliance
    assert tax.volume.offered == 0 and all(r.rate is None for r in tax.rules)
    assert tax.charter == "mokpo" and tax.handset_delay_s is None
    assert report.total is not None and report.total.volume.offered == 20


def test_extensions_and_breaches(store: Store) -> None:
    fill(store)
    dept = weekly_report(store, fx.site(), "2026-W48", department="민원").departments[0]
    rows = {e.extension: e for e in dept.extensions}
    assert set(rows) == {"2001", "2002", None}
    assert rows["2002"].answered == 2  # ring_group_fork and hep_kamailio's second call
    assert rows["2001"].answered == 13
    assert rows["2002"].breaches["hangup"] == 1
    assert rows["2001"].breaches == {"answer": 1, "transfer": 1, "hangup": 1, "callback": 0}
    assert rows[None].breaches == {"answer": 3, "transfer": 0, "hangup": 0, "callback": 1}
    assert dept.breach_total == 8 == len(dept.breaches)
    ids = {(b.call_id, b.rule) for b in dept.breaches}
    assert ("slowxfer@callwatch.test", "transfer") in ids
    assert ("missed-2h@callwatch.test", "callback") in ids
    assert all(b.caller is None or "****" in b.caller or "***" in b.caller for b in dept.breaches)
    assert all(b.started_local.startswith("2026-11-23T20:") for b in dept.breaches)


def test_iso_week_boundaries_in_seoul(store: Store) -> None:
    store.sync_directory(fx.site())
    store_shifted(store, "answered_1st_ring", "2026-11-22T23:30:00+09:00")  # Sunday: W47
    store_shifted(store, "answered_3rd_ring", "2026-11-23T00:10:00+09:00")  # Monday: W48
    w47 = weekly_report(store, fx.site(), "2026-W47").departments[0].compliance
    w48 = weekly_report(store, fx.site(), "2026-W48").departments[0].compliance
    assert (w47.volume.offered, w47.rule("answer").passed, w47.rule("answer").failed) == (1, 1, 0)
    assert (w48.volume.offered, w48.rule("answer").passed, w48.rule("answer").failed) == (1, 0, 1)
    assert w48.previous_volume == data.Volume(1, 1, 0)
    assert w48.rule("answer").previous_rate == 1.0
    assert w48.rule("answer").change == pytest.approx(-100.0)
    # by hour on the Seoul clock: 23 h on Sunday, 0 h on Monday
    w47_hours = weekly_report(store, fx.site(), "2026-W47").departments[0].by_hour
    assert w47_hours[23].offered == 1


def test_compliance_over_any_period_and_department(store: Store) -> None:
    fill(store)
    start, end = parse_iso("2026-11-23T11:15:00Z"), parse_iso("2026-11-23T11:16:00Z")
    parts = compliance(store, fx.site(), start, end, department="민원")
    assert [p.department for p in parts] == ["민원"]
    # calls begun 11:15:00–11:16:00: agentbye, answered1, answered3, busy, cancel, fork, blind,
    # noanswer; busy, cancel and noanswer (ring timeout) are missed
    assert parts[0].volume == data.Volume(8, 5, 3)
    assert parts[0].to_dict()["volume"] == {"offered": 8, "answered": 5, "missed": 3}
    with pytest.raises(UnknownDepartment):
        compliance(store, fx.site(), start, end, department="인사")


def test_rules_a_charter_does_not_make_are_never_passed(store: Store, tmp_path: Path) -> None:
    text = fx.SITE_FILE.read_text(encoding="utf-8").replace(
        'charter = "naju"', 'charter = "yangju"', 1
    )
    path = tmp_path / "site.toml"
    path.write_text(text, encoding="utf-8")
    site = load_site(path)
    store.sync_directory(site)
    for name in ("blind_transfer", "transfer_slow", "missed_then_callback_2h"):
        store_shifted(store, name, "2026-11-24T10:00:00+09:00", site=site)
    civil = weekly_report(store, site, "2026-W48").departments[0].compliance
    assert civil.charter == "yangju"
    for rule in ("transfer", "callback"):  # Yangju promises neither
        result = civil.rule(rule)
        assert not result.in_charter
        assert (result.passed, result.failed, result.rate) == (0, 0, None)
        assert result.promise == data.Promise("", "", "")
    assert civil.rule("answer").in_charter and civil.rule("answer").judged > 0


def test_achievement_summary_has_no_personal_data(store: Store) -> None:
    fill(store)
    summary = achievement_summary(weekly_report(store, fx.site(), "2026-W48"))
    text = repr(summary.to_dict())
    for secret in ("01012345678", "0613398731", "2001", "2002", "0613390000", "****"):
        assert secret not in text
    row = summary.departments[0]
    assert row.department == "민원" and row.answered_rate == pytest.approx(0.75)
    assert [r.rule for r in row.rules] == ["answer", "transfer", "hangup", "callback"]


def test_week_helpers() -> None:
    assert str(parse_week("2026-w7")) == "2026-W07"
    assert parse_week("2026-W47").previous() == IsoWeek(2026, 46)
    assert IsoWeek(2026, 1).previous() == IsoWeek(2025, 52)
    assert IsoWeek(2026, 53).shift(1) == IsoWeek(2027, 1)  # 2026 has 53 ISO weeks
    start, end = IsoWeek(2026, 47).bounds("Asia/Seoul")
    assert start == parse_iso("2026-11-15T15:00:00Z") and end - start == 7 * 86_400_000_000
    assert week_of(parse_iso("2026-11-22T23:59:59+09:00"), "Asia/Seoul") == IsoWeek(2026, 47)
    assert week_of(parse_iso("2026-11-23T00:00:00+09:00"), "Asia/Seoul") == IsoWeek(2026, 48)
    assert week_of(parse_iso("2026-11-22T23:59:59+09:00"), "UTC") == IsoWeek(2026, 47)
    # a daylight-saving zone: the week holding the change has 167 hours
    s, e = IsoWeek(2026, 13).bounds("Europe/Berlin")
    assert e - s == 167 * 3_600_000_000
    for bad in ("2026-47", "W47", "2026-W54", "2025-W53", ""):
        with pytest.raises(ValueError):
            parse_week(bad)


def test_pure_statistics() -> None:
    assert data.percentile([], 0.5) is None
    assert data.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert data.percentile(list(range(1, 11)), 0.9) == pytest.approx(9.1)
    assert data.rate(0, 0) is None and data.rate(3, 1) == 0.75
    naju = fx.site().profiles["naju"]
    assert [data.rings_at(s, naju) for s in (0.0, 2.99, 3.0, 5.9, 6.0, 9.5)] == [1, 1, 2, 2, 3, 4]
