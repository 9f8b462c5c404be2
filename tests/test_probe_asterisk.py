"""Real probe calls through the real Asterisk 22 (marker ``asterisk``: root, /opt/asterisk,
sipp, tcpdump; about a minute). The office of sip_fixtures/probe/office.py runs on
127.0.14.x, beside the fixtures of sip_fixtures/asterisk/."""

from __future__ import annotations

import importlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from callwatch.calls.model import Call
from callwatch.capture import CaptureStats, read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline, JudgedCall
from callwatch.probe.check import ProbeMonitor
from callwatch.probe.uac import ProbeRecord

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
