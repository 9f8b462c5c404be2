"""The monitoring alert, sans-IO: the recorded probe calls (sip_fixtures/probe/: what the
pyVoIP probe phone heard, and Asterisk's HEP copies of the same calls) checked by the
ProbeMonitor, counted and turned into alerts by ProbeAlerts; the runner's safety rules and
its Prometheus figures without placing a call."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from callwatch.calls.model import Call
from callwatch.capture import CaptureStats, read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline, JudgedCall
from callwatch.probe.alerts import ProbeAlerts, alert_payload
from callwatch.probe.check import ProbeMonitor
from callwatch.probe.plan import ProbeSettings
from callwatch.probe.runner import ProbeRunner
from callwatch.probe.uac import ProbeRecord

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "sip_fixtures" / "probe"
SITE = load_site(ROOT / "sip_fixtures" / "asterisk" / "site.toml")
NUMBER = "0613390001"


def _records() -> dict[str, ProbeRecord]:
    rows = json.loads((PROBE / "probe_calls.records.json").read_text(encoding="utf-8"))
    return {r.pop("flow"): ProbeRecord.from_dict(r) for r in rows}


def _calls() -> list[Call]:
    pipe = CallPipeline(SITE)
    out = []
    for packet in read_capture(PROBE / "probe_calls.hep.pcap", CaptureStats()):
        out += pipe.push(packet)
    out += pipe.flush()
    return [o.call for o in out if isinstance(o, JudgedCall)]


def _shifted(record: ProbeRecord, seconds: float) -> ProbeRecord:
    """The record as a probe whose ringback began ``seconds`` earlier would have it."""
    assert record.first_ring_at is not None
    return dataclasses.replace(record, first_ring_at=record.first_ring_at - round(seconds * 1e6))


def test_the_recorded_probes_agree_and_raise_nothing() -> None:
    records, monitor, alerts = _records(), ProbeMonitor(), ProbeAlerts()
    for record in records.values():
        assert monitor.expect(record) == []
    raised = []
    for call in _calls():
        for check in monitor.on_call(call):
            raised.append(alerts.on_check("민원", check, 0, 1))
    assert raised == [None, None, None]
    assert alerts.results == {("민원", "ok"): 3} and not alerts.failing


def test_a_probe_never_captured_raises_the_alert_and_the_next_good_one_clears_it() -> None:
    records, monitor, alerts = _records(), ProbeMonitor(missing_after_s=60), ProbeAlerts()
    answered = records["answered"]
    monitor.expect(answered)
    assert answered.ended_at is not None
    assert monitor.expire(answered.ended_at + 59_000_000) == []  # not yet
    (missing,) = monitor.expire(answered.ended_at + 60_000_000)
    assert missing.outcome == "missing" and monitor.waiting == 0
    alert = alerts.on_check("민원", missing, answered.invite_at, answered.ended_at + 60_000_000)
    assert alert is not None and alert.state == "alert"
    assert alerts.failing == {"민원": missing}
    assert alerts.last_failure == {"민원": answered.ended_at + 60_000_000}
    payload = alert_payload(alert, SITE.name)
    assert payload["id"] == f"{answered.call_id}:alert" and payload["outcome"] == "missing"
    assert payload["department"] == "민원" and payload["placed_at"] == "2026-12-06T02:05:02.646751Z"
    # the next probe is captured and agrees: the alert is cleared once
    monitor.expect(records["busy"])
    (ok,) = [c for call in _calls() for c in monitor.on_call(call)]
    cleared = alerts.on_check("민원", ok, 0, 2)
    assert cleared is not None and cleared.state == "clear" and not alerts.failing
    assert alerts.on_check("민원", ok, 0, 3) is None
    assert alerts.results == {("민원", "missing"): 1, ("민원", "ok"): 2}
    assert alerts.last_failure  # the last failure's time stays


def test_a_ring_time_outside_the_tolerance_is_a_mismatch_alert() -> None:
    records, monitor, alerts = _records(), ProbeMonitor(), ProbeAlerts()
    heard_longer = _shifted(records["answered"], 0.5)  # rang 3.5 s for the probe, 3.0 captured
    monitor.expect(heard_longer)
    (check,) = [c for call in _calls() for c in monitor.on_call(call)]
    assert check.outcome == "mismatch"
    (ring,) = [p for p in check.problems if p.code == "ring"]
    assert ring.captured == pytest.approx(3.0, abs=0.1), check.problems
    assert ring.probe == pytest.approx(3.5, abs=0.1)
    assert ring.text().startswith("ring: captured 3.0")  # the log's English
    alert = alerts.on_check("민원", check, 0, 1)
    assert alert is not None and alert.state == "alert"
    payload = alert_payload(alert, SITE.name)["problems"]
    assert payload == [p.to_dict() for p in check.problems]
    assert {"code": "ring", "captured": ring.captured, "probe": ring.probe} in payload
    # within the tolerance (0.25 s) it agrees
    monitor.expect(_shifted(records["answered"], 0.2))
    assert [c.outcome for call in _calls() for c in monitor.on_call(call)] == ["ok"]


def test_a_call_captured_before_its_record_is_filed_is_checked_on_filing() -> None:
    records, monitor = _records(), ProbeMonitor()
    for call in _calls():
        assert monitor.on_call(call) == []  # nothing filed yet: kept
    (check,) = monitor.expect(records["no_answer"])
    assert check.outcome == "ok" and monitor.waiting == 0


def test_alerts_in_force_survive_a_restart() -> None:
    records, monitor = _records(), ProbeMonitor(missing_after_s=60)
    monitor.expect(records["busy"])
    (missing,) = monitor.expire(10**18)
    alerts = ProbeAlerts()
    alerts.restore([("민원", missing, 5)])
    assert alerts.failing == {"민원": missing} and alerts.last_failure == {"민원": 5}
    assert alerts.results == {}


def _runner(registry: CollectorRegistry | None = None, **kw: object) -> ProbeRunner:
    def no_phone() -> object:
        raise AssertionError("no call may be placed")

    settings = ProbeSettings(enabled=True, server="192.0.2.10", targets={"민원": NUMBER}, **kw)  # type: ignore[arg-type]
    return ProbeRunner(SITE, settings, no_phone, registry=registry, wall=lambda: 10**15)  # type: ignore[arg-type]


def test_the_runner_never_dials_a_number_outside_the_departments() -> None:
    runner = _runner()
    assert asyncio.run(runner.place("민원", "01012345678")) is None
    assert asyncio.run(runner.place("민원", "0613390002")) is None  # the site's, not probed
    assert asyncio.run(runner.place("세무", NUMBER)) is None
    assert runner.placed == 0


def test_the_runner_keeps_the_hourly_cap() -> None:
    runner = _runner(max_per_hour=2)
    runner._made = [(10**15 - 3_000_000_000, "민원"), (10**15 - 60_000_000, "민원")]
    assert asyncio.run(runner.place("민원", NUMBER)) is None and runner.placed == 0
    runner._made = [(10**15 - 3_700_000_000, "민원"), (10**15 - 60_000_000, "민원")]
    assert asyncio.run(runner.place("민원", NUMBER)) is None  # under the cap: it tried
    assert runner.placed == 1 and runner.alerts.results == {("민원", "error"): 1}


def test_the_runner_shows_results_and_the_alert_in_prometheus() -> None:
    registry = CollectorRegistry()
    runner = _runner(registry)
    records = _records()
    monitor = ProbeMonitor(missing_after_s=60)
    monitor.expect(records["busy"])
    (missing,) = monitor.expire(10**18)
    runner.alerts.on_check("민원", missing, 0, 1_700_000_000_000_000)
    text = generate_latest(registry).decode()
    assert 'callwatch_probe_results_total{department="민원",result="missing"} 1.0' in text
    assert 'callwatch_probe_alert{department="민원"} 1.0' in text
    assert 'callwatch_probe_last_failure_timestamp_seconds{department="민원"} 1.7e+09' in text
