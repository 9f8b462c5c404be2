"""Leg events of every sip_fixtures/ capture against its expected-events file.

The pcaps were recorded from real sipp (and Kamailio) traffic by sip_fixtures/regenerate.py;
each NAME.expected.json was written from the scenario's own pauses, not from our output.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callwatch.capture import CaptureStats, read_capture
from callwatch.sip.feed import LegEventFeed

FIXTURES = Path(__file__).resolve().parents[1] / "sip_fixtures"
EXPECTED = sorted(FIXTURES.glob("*.expected.json"))


def leg_events(pcap: Path):
    feed = LegEventFeed()
    stats = CaptureStats()
    events = []
    for packet in read_capture(pcap, stats):
        events.extend(feed.push(packet))
    events.extend(feed.flush())
    return events, feed, stats


def test_there_are_fixtures():
    assert len(EXPECTED) >= 6


@pytest.mark.parametrize("expected_file", EXPECTED, ids=lambda p: p.name.split(".")[0])
def test_fixture_events_match_the_scenario(expected_file: Path):
    spec = json.loads(expected_file.read_text())
    pcap = FIXTURES / f"{spec['fixture']}.pcap"
    events, feed, _ = leg_events(pcap)
    assert sum(feed.parse_errors.values()) == 0, dict(feed.parse_errors)
    tolerance = spec.get("tolerance_s", 0.3)
    offers = [e for e in events if e.kind == "offered"]
    assert offers, "no INVITE found"
    origin = min(e.at for e in offers)
    expected_ids = {leg["call_id"] for leg in spec["legs"]}
    assert {e.call_id for e in events} == expected_ids
    for leg in spec["legs"]:
        got = [e for e in events if e.call_id == leg["call_id"]]
        want = leg["events"]
        assert [e.kind for e in got] == [w["event"] for w in want], leg["call_id"]
        first = next(e for e in got if e.kind == "offered")
        assert first.from_user == leg["from"] and first.to_user == leg["to"]
        for event, wanted in zip(got, want, strict=True):
            offset = (event.at - origin) / 1e6
            assert offset == pytest.approx(wanted["offset_s"], abs=tolerance), (event, wanted)
            for key in ("by", "reason", "status"):
                if key in wanted:
                    assert getattr(event, key) == wanted[key], (event, wanted)
