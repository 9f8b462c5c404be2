"""Millisecond stamps (Asterisk's HEP for received messages) are ordered by arrival inside their
millisecond, so a phone's 180 stamped before the INVITE it answers is not lost.

These drive the reorderer with packets whose stamps are set by hand.
"""

from __future__ import annotations

from callwatch.capture import Packet
from callwatch.sip.reorder import Reorderer

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
