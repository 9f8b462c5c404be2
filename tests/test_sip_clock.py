"""The pipeline's clock: one watermark for every driver, and packets stamped far from the bulk of
the traffic refused instead of moving it (recorded sipp captures, re-stamped)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from callwatch.capture.pcap import read_capture
from callwatch.config import load_site
from callwatch.packet import Packet
from callwatch.pipeline import CallbackNews, CallPipeline, JudgedCall, Output
from callwatch.sip.clock import AHEAD_OF_WALL, BEHIND_WALL, UNCONFIRMED_JUMP, CaptureClock
from callwatch.sip.events import LegEvent

ROOT = Path(__file__).resolve().parent.parent
SITE = load_site(ROOT / "examples" / "site.toml")
S = 1_000_000
HOUR = 3600 * S
START = 1_790_000_000 * S  # 2026-09-21, capture time of the re-stamped fixtures
YEAR_2100 = 4_102_444_800 * S


def fixture(name: str, start: int = START) -> list[Packet]:
    packets = list(read_capture(ROOT / "sip_fixtures" / f"{name}.pcap"))
    base = packets[0].ts
    return [replace(p, ts=p.ts - base + start) for p in packets]


def run(pipe: CallPipeline, packets: list[Packet], as_of: int | None = None) -> list[Output]:
    out: list[Output] = []
    for packet in packets:
        out += pipe.push(packet)
    return out + pipe.flush(as_of)


def summary(out: list[Output]) -> list[tuple]:
    """What a team lead would compare: calls with their verdicts, and callback news."""
    rows: list[tuple] = []
    for item in out:
        if isinstance(item, JudgedCall):
            verdicts = tuple((v.rule, v.ok) for v in item.verdicts)
            rows.append(("call", item.call.id, item.call.missed, item.call.complete, verdicts))
        elif isinstance(item, CallbackNews):
            rows.append(("callback", item.callback.call, item.callback.status))
    return rows


def poison(ts: int, payload: bytes = b"not even SIP") -> Packet:
    return Packet(ts, ("198.51.100.7", 5060), ("192.0.2.1", 5060), "udp", payload, 7)


def test_a_packet_from_the_year_2100_does_not_miss_open_callbacks() -> None:
    missed = fixture("caller_cancels")
    later = fixture("answered_3rd_ring", start=missed[-1].ts + 60 * S)
    invite = next(p for p in later if p.payload.startswith(b"INVITE"))
    attacks = [poison(YEAR_2100), replace(invite, ts=YEAR_2100 + S)]
    as_of = later[-1].ts + 10 * S
    clean = run(CallPipeline(SITE), missed + later, as_of)
    pipe = CallPipeline(SITE)
    attacked = run(pipe, missed + attacks + later, as_of)
    assert summary(attacked) == summary(clean)
    assert ("callback", missed_id(clean), "open") in summary(attacked)
    assert pipe.clock.refused == {UNCONFIRMED_JUMP: 2}
    assert pipe.watermark == later[-1].ts


def missed_id(out: list[Output]) -> str:
    return next(o.call.id for o in out if isinstance(o, JudgedCall) and o.call.missed)


def test_a_capture_resuming_after_a_quiet_night_is_taken_whole() -> None:
    evening = fixture("caller_cancels")
    morning = fixture("answered_3rd_ring", start=evening[-1].ts + 15 * HOUR)
    pipe = CallPipeline(SITE)
    out = run(pipe, evening + morning)
    alone = run(CallPipeline(SITE), evening) + run(CallPipeline(SITE), morning)
    calls = sorted(r for r in summary(out) if r[0] == "call")
    assert calls == sorted(r for r in summary(alone) if r[0] == "call")
    assert not pipe.clock.refused
    assert pipe.watermark == morning[-1].ts


def test_timeouts_still_fire_after_a_refused_jump() -> None:
    pipe = CallPipeline(SITE)
    ringing = [p for p in fixture("caller_cancels") if not p.payload.startswith(b"CANCEL")]
    out: list[Output] = []
    for packet in ringing[:3]:
        out += pipe.push(packet)
    out += pipe.push(poison(YEAR_2100))
    out += pipe.tick(ringing[2].ts + 600 * S)  # ten minutes on, in capture time
    ended = [o for o in out if isinstance(o, LegEvent) and o.kind == "ended"]
    assert ended, "the ringing leg times out on the real clock"
    assert pipe.watermark == ringing[2].ts


def test_live_watermark_follows_the_wall_clock_less_skew_and_never_goes_back() -> None:
    wall = START
    clock = CaptureClock(skew=2 * S)
    pipe = CallPipeline(SITE, clock=clock)
    pipe.advance(wall)
    assert pipe.watermark == wall - 2 * S
    pipe.push(poison(wall + 5 * S, b"OPTIONS sip:x SIP/2.0\r\n\r\n"))  # PBX clock a little ahead
    assert pipe.watermark == wall + 5 * S
    pipe.advance(wall + 10 * S)
    assert pipe.watermark == wall + 8 * S
    pipe.advance(wall)  # the wall clock stepped back (NTP)
    assert pipe.watermark == wall + 8 * S


def test_live_packets_far_from_the_wall_clock_are_refused_and_counted() -> None:
    clock = CaptureClock(max_ahead=300 * S, max_jump=HOUR)
    pipe = CallPipeline(SITE, clock=clock)
    pipe.advance(START)
    pipe.push(poison(START + 301 * S))
    pipe.push(poison(START - 2 * HOUR))
    pipe.push(poison(YEAR_2100))
    assert clock.refused == {AHEAD_OF_WALL: 2, BEHIND_WALL: 1}
    assert pipe.watermark == START - clock.skew


def test_a_skewed_wall_clock_releases_nothing_early() -> None:
    """A collector whose clock runs ahead of the capture agent's: with the skew allowance, a
    packet still in flight is put back in order, as ``ingest`` of the same capture does."""
    packets = fixture("answered_3rd_ring")
    in_order = run(CallPipeline(SITE), packets)
    pipe = CallPipeline(SITE, clock=CaptureClock(skew=2 * S))
    out: list[Output] = []
    swapped = packets[:]
    swapped[1], swapped[2] = swapped[2], swapped[1]  # the second packet arrives late
    for n, packet in enumerate(swapped):
        out += pipe.push(packet)
        if n == 1:  # the ticker runs between them, its clock one second ahead of the PBX's
            out += pipe.advance(packet.ts + S)
    out += pipe.flush()
    assert pipe.legs.reorderer.late == 0
    assert [repr(o) for o in out if isinstance(o, LegEvent)] == [
        repr(o) for o in in_order if isinstance(o, LegEvent)
    ]
    assert summary(out) == summary(in_order)
