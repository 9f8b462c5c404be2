"""The packet journal's cost on the live path, in process.

Feeds the same packets (fixture calls repeated with fresh Call-IDs, a tick per second of
capture time) to :meth:`Service.on_packet` with and without a journal under a temporary
directory, no sinks, and prints the time per packet of each, the difference, the journal's
own append time per packet and the bytes it wrote per packet; then the time the replay of a
journal of that size takes at start. Best of ``--repeat`` runs, each of ``--packets``.

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
from callwatch.config import load_site
from callwatch.journal import PacketJournal
from callwatch.service import Service
from callwatch.settings import Settings
from callwatch.sip.message import parse_message

ROOT = Path(__file__).resolve().parent.parent
SITE = load_site(ROOT / "examples" / "site.toml")
CALLS = ["answered_3rd_ring", "agent_hangs_up_first", "blind_transfer", "caller_cancels"]
START = 1_800_000_000_000_000


def packets(n: int) -> list[Packet]:
    """Fixture calls with fresh Call-IDs, one starting every 50 ms, until ``n`` packets."""
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
                out.append(replace(p, ts=START + copy * 50_000 + p.ts - base, payload=payload))
            copy += 1
    out.sort(key=lambda p: p.ts)
    return out[:n]


def feed(service: Service, pk: list[Packet]) -> float:
    """Seconds to feed ``pk`` (a tick per second of capture time)."""
    wall = START
    started = time.perf_counter()
    for p in pk:
        while wall + 1_000_000 <= p.ts:
            wall += 1_000_000
            service._wall = lambda w=wall: w  # type: ignore[misc]
            service.tick()
        service.on_packet(p)
    return time.perf_counter() - started


def once(pk: list[Packet], journal: bool) -> tuple[float, int, float]:
    """(seconds to feed, journal bytes, seconds to replay it) for one fresh service."""
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(data_dir=Path(tmp))
        j = PacketJournal(Path(tmp) / "journal", segment_ticks=10**9) if journal else None
        service = Service(SITE, settings, journal=j)
        took = feed(service, pk)
        if j is None:
            return took, 0, 0.0
        size = j.size
        j.close()
        again = Service(SITE, settings, journal=PacketJournal(Path(tmp) / "journal"))
        started = time.perf_counter()
        asyncio.run(again._replay(again.journal))  # type: ignore[arg-type]
        return took, size, time.perf_counter() - started


def appends(pk: list[Packet]) -> float:
    """Seconds for the journal alone to append ``pk``."""
    with tempfile.TemporaryDirectory() as tmp:
        j = PacketJournal(Path(tmp), segment_ticks=10**9)
        started = time.perf_counter()
        for p in pk:
            j.append_packet(p)
        took = time.perf_counter() - started
        j.close()
        return took


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
        bares.append(once(pk, False)[0])
        runs.append(once(pk, True))
    bare = min(bares)
    with_journal = min(r[0] for r in runs)
    size = runs[0][1]
    replay = min(r[2] for r in runs)
    append = min(appends(pk) for _ in range(args.repeat))
    us = 1e6 / n
    print(f"{n} packets, {int(pk[-1].ts - pk[0].ts) / 1e6:.0f} s of capture time")
    print(f"on_packet without journal: {bare * us:6.2f} us/packet")
    print(f"on_packet with journal:    {with_journal * us:6.2f} us/packet")
    print(
        f"journal cost:              {(with_journal - bare) * us:6.2f} us/packet "
        f"({(with_journal - bare) / bare:+.0%})"
    )
    print(f"journal append alone:      {append * us:6.2f} us/packet")
    print(f"journal size:              {size / n:6.0f} bytes/packet")
    print(f"replay at start:           {replay * us:6.2f} us/packet ({replay:.2f} s in all)")


if __name__ == "__main__":
    main()
