"""Hostile input on the HEP port: the seeded attacks of tests/hostile_inputs.py, sent through
the live listener's protocol into the core chain, the way ``callwatch serve`` wires them.

Asserted for every run: no exception escapes; every datagram is counted, as a SIP packet
handed on or under the reason it was refused, and each attack lands where it must
(``hep_too_large`` for the bombs...); memory held after the attack stays bounded
(tracemalloc); and real calls (sip_fixtures/, captured from sipp) interleaved with the attack
come out exactly as they do alone: the same leg events, calls, verdicts and callbacks.

The default size runs in seconds. The long mode sends a million datagrams::

    CALLWATCH_HOSTILE_INPUTS=1000000 pytest tests/test_hostile.py

``CALLWATCH_HOSTILE_SEED`` picks another seed (the default is fixed, so failures replay).
"""

from __future__ import annotations

import gc
import os
import random
import tracemalloc
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import pytest

from callwatch.capture import CaptureStats, encode_hep3, read_capture
from callwatch.capture.listener import HepProtocol
from callwatch.capture.packet import Packet
from callwatch.capture.pcapwrite import write_pcap
from callwatch.config import load_site
from callwatch.pipeline import CallbackNews, CallPipeline, JudgedCall, Output
from callwatch.sip.events import LegEvent
from callwatch.store.codec import encode_output
from hostile_inputs import ATTACKS, SCANNER, Hostile, draw, hostile_stream

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "sip_fixtures"
SITE = load_site(ROOT / "examples" / "site.toml")
INPUTS = int(os.environ.get("CALLWATCH_HOSTILE_INPUTS", "3000"))
LONG = INPUTS > 100_000
SEED = int(os.environ.get("CALLWATCH_HOSTILE_SEED", "15"))
MS = 1000
AGENT = ("10.0.0.2", 9060)

# Real calls of every kind the charter judges; the long mode takes every fixture.
REAL = (
    sorted(p.stem for p in FIXTURES.glob("*.pcap"))
    if LONG
    else [
        "answered_3rd_ring",
        "attended_transfer",
        "b2bua_pair",
        "missed_then_callback_40min",
        "ring_group_fork",
        "outbound_call",
    ]
)


class Chain:
    """HepProtocol → CallPipeline, as the service wires them, keeping every output."""

    def __init__(self, keep: bool = True) -> None:
        self.stats = CaptureStats()
        self.pipeline = CallPipeline(SITE)
        self.protocol = HepProtocol(self._packet, stats=self.stats)
        self.keep = keep
        self.out: list[Output] = []

    def _packet(self, packet: Packet) -> None:
        out = self.pipeline.push(packet)
        if self.keep:
            self.out += out

    def send(self, data: bytes, source: tuple[str, int] = SCANNER) -> None:
        self.protocol.datagram_received(data, source)

    def finish(self) -> list[Output]:
        out = self.pipeline.flush()
        if self.keep:
            self.out += out
        return self.out

    def refused(self) -> Counter[str]:
        """Datagrams refused by reason: capture errors and skips, then parse errors."""
        return Counter(self.stats.errors) + Counter(self.stats.skipped)


def real_datagrams(fixture: str) -> list[tuple[int, bytes]]:
    return [(p.ts, encode_hep3(p)) for p in read_capture(FIXTURES / f"{fixture}.pcap")]


def of_calls(out: Iterable[Output], call_ids: set[str]) -> dict[str, list[dict]]:
    """The outputs that concern calls with these Call-IDs, as the store would write them, by
    kind, each kind in output order. (Other traffic moves capture time on, so a finished call
    may come out before an unrelated leg event instead of after it: that is no difference.)"""
    kept: dict[str, list[dict]] = {}
    for item in out:
        if isinstance(item, LegEvent):
            mine = item.call_id in call_ids
        elif isinstance(item, JudgedCall):
            mine = any(leg.call_id in call_ids for leg in item.call.legs)
        elif isinstance(item, CallbackNews):
            mine = item.callback.call in call_ids
        else:  # pragma: no cover - the pipeline has no other output
            raise AssertionError(item)
        if mine:
            record = encode_output(item)
            kept.setdefault(record["type"], []).append(record)
    return kept


def check_accounting(chain: Chain, sent: list[Hostile], real: int) -> None:
    """Every datagram counted once: handed on, or refused under the reason it must be."""
    stats = chain.stats
    assert stats.frames == len(sent) + real
    refused = chain.refused()
    assert stats.packets + sum(refused.values()) == stats.frames
    want = Counter(h.expect for h in sent if h.expect not in ("accepted", "any"))
    anyway = sum(1 for h in sent if h.expect == "any")
    for kind, n in want.items():
        assert n <= refused[kind] <= n + anyway, (kind, refused)
    accepted = sum(1 for h in sent if h.expect == "accepted") + real
    assert accepted <= stats.packets <= accepted + anyway
    assert set(refused) <= {"hep_too_large", "bad_hep", "hep_non_sip"}, refused


@pytest.mark.parametrize("fixture", REAL)
def test_real_calls_come_out_the_same_under_attack(fixture: str) -> None:
    real = real_datagrams(fixture)
    alone = Chain()
    for _, gram in real:
        alone.send(gram, AGENT)
    baseline = alone.finish()
    call_ids = {e.call_id for e in baseline if isinstance(e, LegEvent)}
    assert any(isinstance(o, JudgedCall) for o in baseline)

    rng = random.Random(f"{SEED}:{fixture}")
    per_packet = max(1, INPUTS // (len(REAL) * len(real)))
    attacked = Chain()
    sent: list[Hostile] = []
    for ts, gram in real:
        for _ in range(rng.randint(0, 2 * per_packet)):
            for hostile in draw(rng, ts - rng.randrange(0, 400 * MS)):
                attacked.send(hostile.data)
                sent.append(hostile)
        attacked.send(gram, AGENT)
    out = attacked.finish()

    assert of_calls(out, call_ids) == of_calls(baseline, call_ids)
    check_accounting(attacked, sent, len(real))
    assert {h.attack for h in sent} == set(ATTACKS) or len(sent) < 200


def test_real_calls_in_a_pcap_come_out_the_same_beside_hostile_hep_frames(tmp_path: Path) -> None:
    fixture = "answered_3rd_ring"
    packets = list(read_capture(FIXTURES / f"{fixture}.pcap"))
    rng = random.Random(SEED)
    frames: list[Packet] = []
    for packet in packets:
        for _ in range(3):
            for hostile in draw(rng, packet.ts):
                frames.append(Packet(packet.ts, SCANNER, AGENT, "udp", hostile.data))
        frames.append(packet)
    write_pcap(tmp_path / "attacked.pcap", frames)

    def judged(path: Path) -> dict[str, list[dict]]:
        pipe = CallPipeline(SITE)
        stats = CaptureStats()
        out = [o for p in read_capture(path, stats) for o in pipe.push(p)]
        out += pipe.flush()
        counted = stats.packets + sum(stats.errors.values()) + sum(stats.skipped.values())
        assert counted == stats.frames
        return of_calls(out, {p_call_id(p) for p in packets})

    assert judged(tmp_path / "attacked.pcap") == judged(FIXTURES / f"{fixture}.pcap")


def p_call_id(packet: Packet) -> str:
    head = packet.payload.split(b"\r\n\r\n", 1)[0]
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"call-id", b"i"):
            return value.strip().decode()
    raise AssertionError("no Call-ID")


def test_memory_held_after_an_attack_stays_bounded() -> None:
    """Every attack for INPUTS datagrams, 1 ms apart in capture time, the core ticked each
    second: what is held once the attack is over (and its legs timed out) stays small."""
    chain = Chain(keep=False)
    start = 1_790_000_000_000_000
    warm = list(hostile_stream(SEED, iter(range(start, start + 300 * MS, MS))))
    for hostile in warm:
        chain.send(hostile.data)
    chain.pipeline.tick(start + 400 * MS)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        begin = start + 1000 * MS
        times = iter(range(begin, begin + INPUTS * MS, MS))
        sent = []
        for i, hostile in enumerate(hostile_stream(SEED + 1, times)):
            chain.send(hostile.data)
            if not LONG:
                sent.append(Hostile(hostile.attack, b"", hostile.expect))  # not its bytes
            if i % 1000 == 999:
                chain.pipeline.tick(begin + i * MS)
        # past every timeout of the dialog tracker and the assembler's linger
        chain.pipeline.tick(begin + INPUTS * MS + 300_000 * MS)
        gc.collect()
        held, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert held - before < 16 << 20, f"{(held - before) / 1e6:.1f} MB held"
    assert peak - before < (256 << 20 if LONG else 96 << 20), f"peak {peak / 1e6:.1f} MB"
    if sent:
        check_accounting(chain, warm + sent, 0)
