"""The dialog tracker under hostile orderings of real traffic.

Packets of the sipp fixtures are dropped, duplicated, delayed and shuffled (as lossy capture
paths and several capture agents do). Whatever arrives, the tracker must not raise, and must
never report a leg offered, answered or ended twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from callwatch.capture import CaptureStats, read_capture
from callwatch.sip.feed import LegEventFeed

FIXTURES = Path(__file__).resolve().parents[1] / "sip_fixtures"
NAMES = ("ring_group_fork", "blind_transfer", "attended_transfer", "hep_kamailio", "busy")
PACKETS = {name: tuple(read_capture(FIXTURES / f"{name}.pcap", CaptureStats())) for name in NAMES}


@st.composite
def mangled(draw):
    name = draw(st.sampled_from(NAMES))
    packets = list(PACKETS[name])
    out = []
    for packet in packets:
        action = draw(st.sampled_from(("keep", "keep", "keep", "drop", "dup", "late")))
        if action == "drop":
            continue
        if action == "late":  # arrives up to 3 s late, stamped with its own capture time
            delay = draw(st.integers(0, 3_000_000))
            out.append((packet.ts + delay, packet))
            continue
        out.append((packet.ts, packet))
        if action == "dup":  # a second capture agent's copy, a little later
            copy = replace(packet, ts=packet.ts + draw(st.integers(0, 50_000)))
            out.append((copy.ts, copy))
    out.sort(key=lambda item: item[0])
    return name, [p for _, p in out]


@settings(max_examples=150, deadline=None)
@given(mangled(), st.integers(0, 2_000_000))
def test_no_exception_and_no_event_twice(case, window):
    _, packets = case
    feed = LegEventFeed(reorder_window=window)
    events = []
    for packet in packets:
        events.extend(feed.push(packet))
    events.extend(feed.flush())
    once = Counter((e.leg, e.kind) for e in events if e.kind in ("offered", "answered", "ended"))
    assert all(n == 1 for n in once.values()), once
    for leg in {e.leg for e in events}:
        kinds = [e.kind for e in events if e.leg == leg]
        if "ended" in kinds:  # nothing but NOTIFY progress follows the end of a leg
            tail = kinds[kinds.index("ended") + 1 :]
            assert set(tail) <= {"transfer_progress"}, kinds
