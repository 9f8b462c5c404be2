"""The packet journal's cost on the live path, in process.

Feeds the same packets (fixture calls repeated with fresh Call-IDs, a tick per second of
capture time) to :meth:`Service.on_packet` with and without a journal under a temporary
directory, no sinks, and prints the time per packet of each, the difference, the journal's
own append time per packet, the time of one tick (which moves the checkpoint) and the bytes
written per packet; then the time per record of the replay at start of what the journal kept.
Best of ``--repeat`` runs (alternated), each of ``--packets``.

    .venv/bin/python bench/journal.py [--packets 40000] [--repeat 3]

Prints figures only; nothing asserts them.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from callwatch.capture import Packet, read_capture
from callwatch.capture.listener import DRAIN_BATCH
from callwatch.config import load_site
from callwatch.journal import PacketJournal
from callwatch.service import Service
from callwatch.settings import Settings
from callwatch.sip.message import parse_message

ROOT = Path(__file__).resolve().parent.parent
SITE = load_site(ROOT / "examples" / "site.toml")
CALLS = ["answered_3rd_ring", "agent_hangs_up_first", "early_ringing", "caller_cancels"]
CALLER = b"01012345678"  # the customer's number in these fixtures
START = 1_800_000_000_000_000


def packets(n: int) -> list[Packet]:
    """Fixture calls with fresh Call-IDs and caller numbers (many customers, as on a trunk,
    not one number the B2BUA rule would rightly tie into one call), one starting every
    50 ms, until ``n`` packets."""
    out: list[Packet] = []
    copy = 0
    while len(out) < n:
        for name in CALLS:
            pk = list(read_capture(ROOT / "sip_fixtures" / f"{name}.pcap"))
            ids = {parse_message(p.payload).call_id.encode() for p in pk}
            base = pk[0].ts
            for p in pk:
                payload = p.payload
                for cid in ids:
                    payload = payload.replace(cid, b"b%d-%s" % (copy, cid))
                payload = payload.replace(CALLER, b"010%08d" % (copy % 10**8))
                out.append(replace(p, ts=START + copy * 50_000 + p.ts - base, payload=payload))
            copy += 1
    out.sort(key=lambda p: p.ts)
    return out[:n]


def feed(service: Service, pk: list[Packet]) -> tuple[float, float, int]:
    """Seconds in ``on_packet`` (and ``end_of_batch`` after every :data:`DRAIN_BATCH`
    packets, as the HEP listener calls it) and in ``tick`` to feed ``pk`` (a tick per second
    of capture time, which the bench runs far faster than once a second), and the ticks."""
    wall = START
    packets = ticks = 0.0
    n = 0
    clock = time.perf_counter
    for i, p in enumerate(pk, 1):
        while wall + 1_000_000 <= p.ts:
            wall += 1_000_000
            service._wall = lambda w=wall: w  # type: ignore[misc]
            started = clock()
            service.tick()
            ticks += clock() - started
            n += 1
        started = clock()
        service.on_packet(p)
        if i % DRAIN_BATCH == 0:
            service.end_of_batch()
        packets += clock() - started
    service.end_of_batch()
    return packets, ticks, n


def once(pk: list[Packet], journal: bool) -> tuple[float, float, int, float]:
    """(seconds in on_packet, seconds per tick, records the journal kept, seconds to replay
    them) for one fresh service."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        j = PacketJournal(Path(tmp) / "journal", segment_ticks=10**9) if journal else None
        service = Service(SITE, settings, journal=j)
        took, ticks, n = feed(service, pk)
        if j is None:
            return took, ticks / n, 0, 0.0
        j.close()
        again = Service(SITE, settings, journal=PacketJournal(Path(tmp) / "journal"))
        started = time.perf_counter()
        asyncio.run(again._replay(again.journal))  # type: ignore[arg-type]
        return took, ticks / n, again.replayed, time.perf_counter() - started


def appends(pk: list[Packet]) -> tuple[float, int]:
    """Seconds for the journal alone to append ``pk`` (a flush every :data:`DRAIN_BATCH`),
    and the bytes it wrote."""
    with tempfile.TemporaryDirectory() as tmp:
        j = PacketJournal(Path(tmp), segment_ticks=10**9)
        started = time.perf_counter()
        for i, p in enumerate(pk, 1):
            j.append_packet(p)
            if i % DRAIN_BATCH == 0:
                j.flush()
        j.flush()
        took = time.perf_counter() - started
        j.close()
        return took, j.size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=40_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    pk = packets(args.packets)
    n = len(pk)
    once(pk, False)  # warm the parser's caches and the allocator
    bares, runs = [], []
    for _ in range(args.repeat):  # alternated: a busy neighbour weighs on both alike
        bares.append(once(pk, False))
        runs.append(once(pk, True))
    bare = min(b[0] for b in bares)
    bare_tick = min(b[1] for b in bares)
    with_journal = min(r[0] for r in runs)
    tick = min(r[1] for r in runs)
    replay = min(r[3] / max(r[2], 1) for r in runs)
    kept = runs[0][2]
    alone = [appends(pk) for _ in range(args.repeat)]
    append = min(a[0] for a in alone)
    size = alone[0][1]
    us = 1e6 / n
    print(f"{n} packets, {int(pk[-1].ts - pk[0].ts) / 1e6:.0f} s of capture time")
    print(f"on_packet without journal: {bare * us:6.2f} us/packet")
    print(f"on_packet with journal:    {with_journal * us:6.2f} us/packet")
    print(
        f"journal cost:              {(with_journal - bare) * us:6.2f} us/packet "
        f"({(with_journal - bare) / bare:+.0%})"
    )
    print(f"journal append alone:      {append * us:6.2f} us/packet")
    print(
        f"tick without / with:       {bare_tick * 1e6:6.0f} / {tick * 1e6:.0f} us (once a second)"
    )
    print(f"journal size:              {size / n:6.0f} bytes/packet")
    print(f"replay at start:           {replay * 1e6:6.2f} us/record ({kept} records kept)")


if __name__ == "__main__":
    main()
