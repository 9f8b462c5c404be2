"""Probe calls recorded through the real Asterisk 22 (sip_fixtures/probe/record.py).

``probe_calls.records.json`` is what the pyVoIP probe phone wrote down while it called the
fixture office three times (answered after 3 s, busy, not answered and cancelled after 5 s);
``probe_calls.pcap`` / ``.hep.pcap`` are the wire and Asterisk's HEP copies of the same calls.
The probe's own caller logic is replayed on the PBX's side of the recording, and callwatch's
view of the captures is checked against the probe's records.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from callwatch.calls.model import Call
from callwatch.capture import CaptureStats, read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline, JudgedCall
from callwatch.probe.check import ProbeMonitor, check_probe, find_probe_call
from callwatch.probe.uac import ProbeDialer, ProbeRecord, digest_authorization
from callwatch.sip.message import parse_message

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "sip_fixtures" / "probe"
SITE = ROOT / "sip_fixtures" / "asterisk" / "site.toml"
PROBE_ADDR = ("127.0.14.30", 5160)
PBX_ADDR = ("127.0.14.1", 5160)


def _records() -> dict[str, ProbeRecord]:
    rows = json.loads((PROBE / "probe_calls.records.json").read_text(encoding="utf-8"))
    return {row.pop("flow"): ProbeRecord.from_dict(row) for row in rows}


def _captured_calls(capture: Path) -> list[Call]:
    pipe = CallPipeline(load_site(SITE))
    out = []
    for packet in read_capture(capture, CaptureStats()):
        out += pipe.push(packet)
    out += pipe.flush()
    return [o.call for o in out if isinstance(o, JudgedCall)]


def _wire(call_id: str) -> list[tuple[int, tuple[str, int], bytes]]:
    """(time, destination, payload) of every datagram of one dialog on the wire."""
    rows = []
    for packet in read_capture(PROBE / "probe_calls.pcap", CaptureStats()):
        if parse_message(packet.payload).call_id == call_id:
            rows.append((packet.ts, tuple(packet.dst), packet.payload))
    return rows


@pytest.mark.parametrize("flow", ["answered", "busy", "no_answer"])
def test_the_dialer_replayed_on_the_pbx_side_records_what_the_probe_recorded(flow: str) -> None:
    recorded = _records()[flow]
    counter = iter(range(1000))
    dialer = ProbeDialer(
        number=recorded.number, user=recorded.from_user, local=PROBE_ADDR, server=PBX_ADDR,
        call_id=recorded.call_id, from_tag=recorded.from_tag,
        token=lambda: f"t{next(counter)}", secret="probe-fixture-only",
    )  # fmt: skip
    wire = _wire(recorded.call_id)
    dialer.start(wire[0][0])
    acks: list[bytes] = []
    hung_up = False
    for at, dst, payload in wire[1:]:
        if recorded.hangup_at is not None and at >= recorded.hangup_at and not hung_up:
            hung_up = bool(dialer.hang_up(recorded.hangup_at))  # the probe's BYE or CANCEL
        if dst == PROBE_ADDR:
            acks += [r for r in dialer.receive(payload, at) if r.startswith(b"ACK ")]
    seen, probe = dialer.record, _records()[flow]
    assert (seen.ring_status, seen.final_status, seen.answered_by, seen.ended_by) == (
        probe.ring_status, probe.final_status, probe.answered_by, probe.ended_by,
    )  # fmt: skip
    for name in ("first_ring_at", "answered_at", "ended_at"):
        a, b = getattr(seen, name), getattr(probe, name)
        assert (a is None) == (b is None), name
        if a is not None:  # the wire's stamp against pyVoIP's read of its socket (10 ms poll)
            assert abs(a - b) < 30_000, name
    # every ACK the dialer builds carries the To-tag of the reply it acknowledges
    wire_acks = [p for _, dst, p in wire if dst == PBX_ADDR and p.startswith(b"ACK ")]
    assert [parse_message(a).to.tag for a in acks[: len(wire_acks)]] == [
        parse_message(a).to.tag for a in wire_acks
    ]


@pytest.mark.parametrize("form", ["probe_calls.pcap", "probe_calls.hep.pcap"])
def test_callwatch_sees_each_probe_call_as_the_probe_heard_it(form: str) -> None:
    calls = _captured_calls(PROBE / form)
    monitor = ProbeMonitor()
    records = _records()
    for record in records.values():
        monitor.expect(record)
    checks = {c.call_id: c for call in calls for c in monitor.on_call(call)}
    assert monitor.waiting == 0
    by_flow = {flow: checks[r.call_id] for flow, r in records.items()}
    assert {flow: c.outcome for flow, c in by_flow.items()} == dict.fromkeys(records, "ok"), {
        flow: c.problems for flow, c in by_flow.items()
    }
    answered = by_flow["answered"]
    assert answered.probe_ring_s == pytest.approx(3.0, abs=0.1)  # the phone rang 3.0 s
    assert answered.seen_ring_s == pytest.approx(answered.probe_ring_s, abs=0.05)
    assert answered.staff_ring_s == pytest.approx(3.0, abs=0.1)
    assert answered.department == "민원"
    assert by_flow["busy"].seen_answer_s is None and by_flow["no_answer"].seen_ring_s is None


def test_a_probe_never_captured_is_missing_once_its_wait_is_over() -> None:
    records = _records()
    monitor = ProbeMonitor(missing_after_s=60)
    for record in records.values():
        monitor.expect(record)
    last_end = max(r.ended_at or 0 for r in records.values())
    assert monitor.expire(last_end) == []  # the feed may still be catching up
    missing = monitor.expire(last_end + 60_000_000)
    assert sorted(c.call_id for c in missing) == sorted(r.call_id for r in records.values())
    assert {c.outcome for c in missing} == {"missing"}
    assert monitor.waiting == 0


def test_a_capture_that_disagrees_with_the_probe_is_a_mismatch() -> None:
    calls = _captured_calls(PROBE / "probe_calls.hep.pcap")
    record = _records()["answered"]
    call = find_probe_call(record, calls)
    assert call is not None
    late = dataclasses.replace(record, answered_at=(record.answered_at or 0) + 1_000_000)
    check = check_probe(late, call)
    assert check.outcome == "mismatch"
    assert [p.code for p in check.problems] == ["answer", "ring"]
    answer = check.problems[0]
    assert answer.probe == pytest.approx(answer.captured + 1.0, abs=0.01)  # type: ignore[operator]
    skewed = dataclasses.replace(
        record, **{k: getattr(record, k) + 5_000_000 for k in
                   ("invite_at", "first_ring_at", "answered_at", "hangup_at", "ended_at")}
    )  # fmt: skip
    (clock,) = check_probe(skewed, call).problems
    assert clock.code == "clock" and clock.captured == pytest.approx(-5.0, abs=0.01)


def test_digest_answer_matches_rfc_2617() -> None:
    challenge = {"realm": "testrealm@host.com", "qop": "auth,auth-int",
                 "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
                 "opaque": "5ccc069c403ebaf9f0171e9517f40e41"}  # fmt: skip
    answer = digest_authorization(
        challenge, user="Mufasa", secret="Circle Of Life", method="GET",
        uri="/dir/index.html", cnonce="0a4f113b",
    )  # fmt: skip
    assert 'response="6629fae49393a05397450978507c4ef1"' in answer
    assert "qop=auth," in answer and 'opaque="5ccc069c403ebaf9f0171e9517f40e41"' in answer
