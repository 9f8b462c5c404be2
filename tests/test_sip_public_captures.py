"""Leg events from real-world captures made by other people, against their tshark ground truth.

The captures live in the team's shared folder beside the repository (never copied in); each
NAME.json there holds the frame times of INVITE, first ring, answer and BYE read off the file
with tshark. Times match to 1 ms: we stamp a message with its first fragment or TCP segment,
tshark with the frame that completed it.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callwatch.capture import CaptureStats, read_capture
from callwatch.sip.feed import LegEventFeed

PUBLIC = Path(__file__).resolve().parents[1].parent / "shared" / "captures" / "public"
pytestmark = pytest.mark.skipif(
    not PUBLIC.is_dir(), reason=f"public captures not present at {PUBLIC} (team workspace only)"
)
TOLERANCE_US = 1_000


def events_of(name: str):
    feed = LegEventFeed()
    stats = CaptureStats()
    events = []
    for packet in read_capture(PUBLIC / name, stats):
        events.extend(feed.push(packet))
    events.extend(feed.flush())
    return events, feed, stats


def truth(name: str) -> dict:
    return json.loads((PUBLIC / name.replace(".pcap", ".json")).read_text())


def us(seconds: float) -> int:
    return round(seconds * 1_000_000)


def by_leg(events, call_id):
    return [e for e in events if e.call_id == call_id]


def first(events, kind):
    found = [e for e in events if e.kind == kind]
    assert len(found) <= 1, f"{kind} emitted {len(found)} times"
    return found[0] if found else None


def close(event, seconds):
    assert event is not None
    assert abs(event.at - us(seconds)) <= TOLERANCE_US, (event, seconds)


@pytest.mark.parametrize(
    "name",
    [
        "heplify_sip_ipv4_tcp.pcap",
        "heplify_rtp_rtcp_sip_ipv4_udp.pcap",
        "heplify_sip_tcp_websocket.pcap",
        "sngrep_ipv6frag.pcap",
    ],
)
def test_ring_answer_and_bye_match_ground_truth(name):
    events, _, _ = events_of(name)
    for call in truth(name)["calls"]:
        leg = by_leg(events, call["call_id"])
        marks = call["events"]
        close(first(leg, "alerting"), marks["first_ring"]["time"])
        answered = first(leg, "answered")
        if marks["answer"] is None:
            assert answered is None
        else:
            close(answered, marks["answer"]["time"])
            ring = (answered.at - first(leg, "alerting").at) / 1e6
            assert ring == pytest.approx(call["ring_seconds"], abs=0.002)
        ended = first(leg, "ended")
        if marks["bye"] is None:
            assert ended is None, "a call still up at the end of the capture must stay open"
        else:
            close(ended, marks["bye"]["time"])
            assert ended.reason == "bye"
            expected = "caller" if call["hung_up_by"].startswith("caller") else "callee"
            assert ended.by == expected


def test_udp_capture_with_rtp_noise_has_two_calls_and_no_register_legs():
    events, feed, stats = events_of("heplify_rtp_rtcp_sip_ipv4_udp.pcap")
    assert stats.packets == 14
    assert sorted({e.call_id for e in events}) == ["12013223@200.57.7.195", "12015624@200.57.7.195"]
    assert feed.tracker.stats.not_dialog >= 1  # the REGISTERs
    assert feed.tracker.open_legs() == 2  # one talking, one ringing when the capture ends


def test_websocket_b2bua_both_legs_and_the_caller_hangs_up():
    name = "heplify_sip_tcp_websocket.pcap"
    events, _, _ = events_of(name)
    call = truth(name)["calls"][0]
    a_leg = by_leg(events, call["call_id"])
    b_leg = by_leg(events, call["b_leg_call_id"])
    assert [e.kind for e in a_leg] == ["offered", "alerting", "answered", "ended"]
    assert [e.kind for e in b_leg] == ["offered", "alerting", "answered", "ended"]
    close(first(b_leg, "offered"), call["events"]["b_leg_invite"]["time"])
    close(first(b_leg, "alerting"), call["events"]["b_leg_first_183"]["time"])
    close(first(b_leg, "answered"), call["events"]["b_leg_answer"]["time"])
    close(first(b_leg, "ended"), call["events"]["b_leg_bye"]["time"])
    assert first(a_leg, "offered").transport == "ws"
    # the 407-challenged INVITE and its retry are one attempt
    assert len([e for e in a_leg if e.kind == "offered"]) == 1


def test_failed_attempts_end_with_their_reasons():
    name = "sngrep_aaa.pcap"
    events, feed, _ = events_of(name)
    calls = truth(name)["calls"]
    assert sorted({e.call_id for e in events}) == sorted(c["call_id"] for c in calls)
    assert not [e for e in events if e.kind == "answered"]
    for call in calls:
        leg = by_leg(events, call["call_id"])
        assert len([e for e in leg if e.kind == "offered"]) == 1
        close(first(leg, "offered"), call["events"]["invite"]["time"])
        ended = first(leg, "ended")
        if call["events"].get("cancel"):
            close(ended, call["events"]["cancel"]["time"])
            assert (ended.by, ended.reason) == ("caller", "cancel")
        else:
            close(ended, call["events"]["final"]["time"])
            assert ended.by == "callee" and ended.reason in {"403", "480"}
        if call["events"]["first_ring"]:
            close(first(leg, "alerting"), call["events"]["first_ring"]["time"])
        else:
            assert first(leg, "alerting") is None
    assert feed.tracker.stats.duplicates >= 2  # INVITE retransmissions
    assert feed.tracker.open_legs() == 0
