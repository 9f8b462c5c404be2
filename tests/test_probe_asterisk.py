"""Real probe calls through the real Asterisk 22 (marker ``asterisk``: root, /opt/asterisk,
sipp, tcpdump; about a minute). The office of sip_fixtures/probe/office.py runs on
127.0.14.x, beside the fixtures of sip_fixtures/asterisk/."""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from callwatch.api.auth import TokenStore
from callwatch.calls.model import Call
from callwatch.capture import CaptureStats, read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline, JudgedCall
from callwatch.probe.check import ProbeMonitor
from callwatch.probe.uac import ProbeRecord
from callwatch.store import Store
from test_e2e_serve import Serve, Subscriber, free_port, mosquitto

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "sip_fixtures" / "probe"
SITE = ROOT / "sip_fixtures" / "asterisk" / "site.toml"

pytestmark = [
    pytest.mark.asterisk,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (tcpdump, loopback addresses)"),
]
sys.path.insert(0, str(PROBE))
office = importlib.import_module("office")
recorder = importlib.import_module("record")


def _calls(capture: Path) -> list[Call]:
    pipe = CallPipeline(load_site(SITE))
    out = []
    for packet in read_capture(capture, CaptureStats()):
        out += pipe.push(packet)
    out += pipe.flush()
    return [o.call for o in out if isinstance(o, JudgedCall)]


def _records(rows: list[dict]) -> dict[str, ProbeRecord]:
    return {r["flow"]: ProbeRecord.from_dict({k: v for k, v in r.items() if k != "flow"})
            for r in rows}  # fmt: skip


def test_fresh_probe_calls_agree_with_what_callwatch_captured(tmp_path: Path) -> None:
    records = _records(recorder.record(tmp_path / "out", tmp_path / "scratch"))
    assert records["answered"].answered_by == "2001"
    assert records["answered"].ring_seconds == pytest.approx(3.0, abs=0.1)
    assert records["busy"].final_status == 486 and records["busy"].ended_by == "rejected"
    assert records["no_answer"].ended_by == "cancel" and records["no_answer"].final_status == 487
    monitor = ProbeMonitor()
    for record in records.values():
        monitor.expect(record)
    calls = _calls(tmp_path / "out" / "probe_calls.hep.pcap")
    checks = [c for call in calls for c in monitor.on_call(call)]
    assert {c.outcome for c in checks} == {"ok"}, [c.problems for c in checks]
    assert len(checks) == 3 and monitor.waiting == 0


def test_a_probe_with_the_hep_feed_cut_is_missing(tmp_path: Path) -> None:
    records = _records(recorder.record(tmp_path / "out", tmp_path / "scratch", hep=False))
    monitor = ProbeMonitor(missing_after_s=60)
    for record in records.values():
        monitor.expect(record)
    for call in _calls(tmp_path / "out" / "probe_calls.hep.pcap"):
        assert monitor.on_call(call) == []
    last = max(r.ended_at or r.invite_at for r in records.values())
    missing = monitor.expire(last + 60_000_000)
    assert len(missing) == 3 and {c.outcome for c in missing} == {"missing"}


def test_callwatch_probe_cancels_on_sigterm_while_it_rings(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        SITE.read_text(encoding="utf-8")
        + f'\n[probes]\nserver = "{office.PBX_IP}"\nport = {office.SIP_PORT}\n'
        f'bind = "{office.PROBE_IP}"\nsip_port = {office.SIP_PORT}\n',
        encoding="utf-8",
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"))
    env.update(CALLWATCH_PROBE_USER=office.PROBE_USER, CALLWATCH_PROBE_SECRET=office.PROBE_SECRET)
    argv = [sys.executable, "-c", "import sys; from callwatch.cli import main; sys.exit(main())",
            "probe", "--config", str(site), "--number", "0613390001",
            "--answer-limit", "30"]  # fmt: skip
    with office.probe_office(tmp_path / "asterisk"):
        desk = office.phone("2001", "uas_ring_cancel.xml", tmp_path)
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(4.0)  # 1.1 s to register and start reading, then it rings
            proc.send_signal(signal.SIGTERM)
            out, err = proc.communicate(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
            office.stop(desk)
        assert desk.returncode == 0  # the phone's scenario ended with the CANCEL it expects
    assert proc.returncode == 0, err.decode()
    record = json.loads(out)
    assert record["department"] == "민원" and record["ring_status"] == 180
    assert record["ended_by"] == "cancel" and record["final_status"] == 487
    assert record["answered_at"] is None and record["hangup_at"] is not None


def test_callwatch_probe_refuses_a_number_outside_the_site(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(SITE.read_text(encoding="utf-8") + '\n[probes]\nserver = "127.0.14.1"\n')
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), CALLWATCH_PROBE_USER="x",
               CALLWATCH_PROBE_SECRET="y")  # fmt: skip
    argv = [sys.executable, "-c", "import sys; from callwatch.cli import main; sys.exit(main())",
            "probe", "--config", str(site), "--number", "01012345678"]  # fmt: skip
    done = subprocess.run(argv, env=env, capture_output=True, timeout=30)
    assert done.returncode == 2
    assert b"01012345678 is not a public number of this site" in done.stderr


def _serve_site(tmp_path: Path) -> Path:
    """The fixture office's site file with the probes enabled all day, every day: a budget so
    large that the first call comes within seconds, one call an hour at most."""
    site = tmp_path / "site.toml"
    site.write_text(
        SITE.read_text(encoding="utf-8")
        + '\n[site.business_hours]\nstart = "00:00"\nend = "23:59"\n'
        'days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]\nholidays = false\n'
        f'\n[probes]\nenabled = true\nserver = "{office.PBX_IP}"\nport = {office.SIP_PORT}\n'
        f'bind = "{office.PROBE_IP}"\nsip_port = {office.SIP_PORT}\ndaily_budget = 10000\n'
        "max_per_hour = 1\nanswer_limit_s = 10\ntalk_s = 1\nmissing_after_s = 15\n",
        encoding="utf-8",
    )
    return site


async def test_serve_probes_and_a_cut_hep_feed_raises_the_monitoring_alert(tmp_path: Path) -> None:
    """callwatch serve places a probe call through the real Asterisk, whose HEP copies are
    switched off: the probe is never captured, so the alert is raised as a metric, an MQTT
    message a real subscriber receives and the dashboard's banner; SIGTERM stops it cleanly."""
    site_file, data = _serve_site(tmp_path), tmp_path / "data"
    (tmp_path / "broker").mkdir()
    db = Store.open(f"sqlite:///{data / 'callwatch.sqlite'}")
    db.upgrade()
    token = TokenStore(db.engine).create("admin")[1]
    db.close()
    port = free_port()
    env = {"PYTHONPATH": str(ROOT / "src"), "CALLWATCH_MQTT_URL": f"mqtt://127.0.0.1:{port}",
           "CALLWATCH_PROBE_USER": office.PROBE_USER,
           "CALLWATCH_PROBE_SECRET": office.PROBE_SECRET}  # fmt: skip
    with (
        office.probe_office(tmp_path / "asterisk", hep=False),
        mosquitto(tmp_path / "broker", port),
    ):
        desk = office.phone("2001", "uas_answer.xml", tmp_path, ring_ms=2000, timeout_s=90)
        serve = Serve(site_file, data, **env)
        try:
            async with Subscriber(port, "asterisk-fixture-office") as sub:
                await serve.ready()
                alert = await _message(sub, "alert", timeout=90)
                metrics = await serve.metrics()
                async with httpx.AsyncClient(base_url=serve.url) as web:
                    await web.post("/login", data={"token": token, "next": "/"})
                    dashboard = (await web.get("/")).text
                    page = (await web.get("/probes")).text
            await serve.stop()
        finally:
            serve.kill()
            office.stop(desk)
    assert desk.returncode == 0  # the desk phone answered and got the probe's BYE
    assert alert["department"] == "민원" and alert["outcome"] == "missing"
    assert alert["number"] == "0613390000" and alert["call"] is None  # its first number
    assert alert["probe_call_id"].startswith("probe-")
    assert metrics['callwatch_probe_results_total{department="민원",result="missing"}'] == 1
    assert metrics['callwatch_probe_alert{department="민원"}'] == 1
    assert metrics['callwatch_probe_last_failure_timestamp_seconds{department="민원"}'] > 0
    assert 'id="monitoring-alert"' in dashboard and 'data-outcome="missing"' in dashboard
    assert 'data-figure="placed">1</dd>' in page and 'data-figure="answered">1</dd>' in page


async def _message(sub: Subscriber, state: str, timeout: float) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        for topic, body in sub.received:
            if topic.endswith("/monitoring") and body.get("state") == state:
                return body
        assert time.monotonic() < deadline, f"no {state} on the monitoring topic: {sub.received}"
        await asyncio.sleep(0.2)


async def test_serve_stopped_while_a_probe_rings_sends_cancel(tmp_path: Path) -> None:
    """SIGTERM to callwatch serve while its probe call rings: the desk phone's scenario, which
    ends only on the CANCEL it expects, succeeds, and serve exits cleanly."""
    site_file = _serve_site(tmp_path)
    text = site_file.read_text(encoding="utf-8").replace(
        "answer_limit_s = 10", "answer_limit_s = 60"
    )
    site_file.write_text(text, encoding="utf-8")
    env = {"PYTHONPATH": str(ROOT / "src"), "CALLWATCH_PROBE_USER": office.PROBE_USER,
           "CALLWATCH_PROBE_SECRET": office.PROBE_SECRET}  # fmt: skip
    with office.probe_office(tmp_path / "asterisk"):
        desk = office.phone("2001", "uas_ring_cancel.xml", tmp_path, timeout_s=90)
        serve = Serve(site_file, tmp_path / "data", **env)
        try:
            await serve.ready()
            deadline = time.monotonic() + 60
            while (await _readiness(serve))["probes"]["placed"] < 1:
                assert time.monotonic() < deadline, "no probe call placed"
                await asyncio.sleep(0.2)
            await asyncio.sleep(3.0)  # registered, INVITE sent, ringing
            err = await serve.stop()
            await asyncio.to_thread(desk.wait, 20)
        finally:
            serve.kill()
            office.stop(desk)
    assert desk.returncode == 0, err  # the phone got its CANCEL
    assert "stopped; everything flushed" in err


async def _readiness(serve: Serve) -> dict:
    async with httpx.AsyncClient() as client:
        return (await client.get(f"{serve.url}/readyz")).json()["parts"]
