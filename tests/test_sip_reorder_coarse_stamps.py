"""Millisecond stamps (Asterisk's HEP for received messages) are ordered by arrival inside their
millisecond, so a phone's 180 stamped before the INVITE it answers is not lost.

The unit tests drive the reorderer with packets whose stamps are set by hand; the fixture test
reads a real Asterisk 22 HEP capture (sip_fixtures/asterisk/) in which a phone's 180 is stamped
before Asterisk's INVITE to that phone.
"""

from __future__ import annotations

from pathlib import Path

from callwatch.capture import CaptureStats, Packet, read_capture
from callwatch.sip.feed import LegEventFeed
from callwatch.sip.message import parse_message
from callwatch.sip.reorder import Reorderer

ASTERISK = Path(__file__).resolve().parents[1] / "sip_fixtures" / "asterisk"
T0 = 1_700_000_000_000_000  # a whole second, in microseconds


def _packet(ts: int, tag: str) -> Packet:
    return Packet(ts, ("127.0.13.1", 5160), ("127.0.13.11", 5160), "udp", tag.encode())


def _run(reorderer: Reorderer, packets: list[Packet]) -> list[Packet]:
    out: list[Packet] = []
    for p in packets:
        out += reorderer.push(p)
    return out + reorderer.flush()


def test_a_millisecond_stamp_after_a_later_stamp_in_its_millisecond_keeps_arrival_order():
    invite = _packet(T0 + 12_684, "INVITE sent (microsecond stamp)")
    ringing = _packet(T0 + 12_000, "180 received (stamp truncated to 12 ms)")
    r = Reorderer()
    out = _run(r, [invite, ringing])
    assert [p.payload for p in out] == [invite.payload, ringing.payload]
    assert out[1].ts == invite.ts  # raised inside its own millisecond, never past it
    assert (out[1].src, out[1].dst, out[1].frame) == (ringing.src, ringing.dst, ringing.frame)
    assert r.coarse_raised == 1 and r.late == 0


def test_other_early_stamps_are_still_put_in_time_order():
    later = _packet(T0 + 12_684, "later")
    micro = _packet(T0 + 12_300, "microsecond stamp, earlier: goes first")
    older_ms = _packet(T0 + 11_000, "millisecond stamp of an earlier millisecond: goes first")
    r = Reorderer()
    out = _run(r, [later, micro, older_ms])
    assert [p.payload for p in out] == [older_ms.payload, micro.payload, later.payload]
    assert [p.ts for p in out] == [older_ms.ts, micro.ts, later.ts]
    assert r.coarse_raised == 0


def test_a_raised_packet_goes_after_earlier_arrivals_with_the_same_stamp():
    first = _packet(T0 + 5_900, "first")
    second = _packet(T0 + 5_900, "second, same stamp")
    coarse = _packet(T0 + 5_000, "coarse")
    out = _run(Reorderer(), [first, second, coarse])
    assert [p.payload for p in out] == [first.payload, second.payload, coarse.payload]


def test_late_packets_are_still_counted_not_raised():
    r = Reorderer(window=1_000)
    r.push(_packet(T0, "a"))
    r.push(_packet(T0 + 5_000, "b"))  # releases a
    r.push(_packet(T0 + 10_000, "c"))  # releases b
    out = r.push(_packet(T0 + 4_000, "late, a whole millisecond"))
    assert [p.payload for p in out] == [b"late, a whole millisecond"]
    assert r.late == 1 and r.coarse_raised == 0


def _invites_and_early_responses(pcap: Path) -> list[str]:
    """Call-IDs whose 180/183 is stamped before the INVITE it answers (file order)."""
    sent: dict[str, int] = {}
    early: list[str] = []
    for p in read_capture(pcap, CaptureStats()):
        msg = parse_message(p.payload)
        if msg.method == "INVITE" and not msg.to.params.get("tag"):
            sent.setdefault(msg.call_id, p.ts)
        elif msg.status in (180, 183) and msg.call_id in sent and p.ts < sent[msg.call_id]:
            early.append(msg.call_id)
    return early


def test_asterisk_hep_phone_legs_ring_even_when_the_180_is_stamped_before_the_invite():
    pcap = ASTERISK / "ring_group.hep.pcap"
    early = _invites_and_early_responses(pcap)
    assert early, "the fixture should hold a 180 stamped before its INVITE"
    feed = LegEventFeed()
    events = []
    for packet in read_capture(pcap, CaptureStats()):
        events += feed.push(packet)
    events += feed.flush()
    for call_id in early:
        kinds = [e.kind for e in events if e.call_id == call_id]
        assert "alerting" in kinds, (call_id, kinds)
    # Every phone of the ring group rang (each sipp phone sends 180 at once).
    phone_legs = {e.call_id for e in events if e.kind == "offered" and e.to_user != "0613390000"}
    assert len(phone_legs) == 3
    for call_id in phone_legs:
        assert "alerting" in [e.kind for e in events if e.call_id == call_id], call_id
