"""Hostile-input budgets: what each attack of tests/hostile_inputs.py costs, and real calls
beside a scanner's flood.

1. **Per attack** (in process, the live path without the socket: ``HepProtocol`` into
   ``CallPipeline``): CPU time per datagram, and memory held once the attack is over (its legs
   timed out), measured with tracemalloc in a second pass of other datagrams of the attack.
2. **Flood** (``callwatch serve`` as bench/live.py starts it): real calls as HEP at rising
   rates while a scanner's INVITEs to one outside number run beside them at ``--flood-rate``
   (5,000 packets/s), each step ``--step-seconds``; reports what arrived (the service's
   ``callwatch_frames_total``) and the highest real-call rate with zero loss.

    .venv/bin/python bench/hostile.py [--per-attack 300] [--flood-rate 5000] [--max-rate 15000]

Prints figures only; nothing asserts them.
"""

from __future__ import annotations

import argparse
import gc
import random
import socket
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "bench")]

from callwatch.capture.listener import HepProtocol  # noqa: E402
from callwatch.capture.stats import CaptureStats  # noqa: E402
from callwatch.config import load_site  # noqa: E402
from callwatch.pipeline import CallPipeline  # noqa: E402
from hostile_inputs import ATTACKS, invite_flood  # noqa: E402
from live import Server, _calls  # noqa: E402

MS = 1000
START = 1_790_000_000_000_000
SOURCE = ("198.51.100.7", 5070)


def _attack_grams(name: str, n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    return [h.data for i in range(n) for h in ATTACKS[name](rng, START + i * MS)]


def _run(grams: list[bytes], site: object) -> tuple[CallPipeline, CaptureStats]:
    pipeline = CallPipeline(site)  # type: ignore[arg-type]
    stats = CaptureStats()
    protocol = HepProtocol(pipeline.push, stats=stats)
    for i, gram in enumerate(grams):
        protocol.datagram_received(gram, SOURCE)
        if i % 1000 == 999:
            pipeline.tick(START + i * MS)
    pipeline.tick(START + len(grams) * MS + 300_000 * MS)  # past every timeout
    return pipeline, stats


def per_attack(args: argparse.Namespace) -> None:
    site = load_site(ROOT / "examples" / "site.toml")
    _run(_attack_grams("invite_flood", 200, 0), site)  # warm the caches and imports
    print(
        f"{'attack':<16} {'datagrams':>9} {'bytes/dgram':>11} {'CPU µs/dgram':>12}"
        f" {'held MB':>8} {'peak MB':>8}  counted as"
    )
    for name in ATTACKS:
        grams = _attack_grams(name, args.per_attack, 1)
        gc.collect()
        cpu = time.process_time()
        _, stats = _run(grams, site)
        cpu = time.process_time() - cpu
        gc.collect()
        tracemalloc.start()
        try:
            pipeline, _ = _run(_attack_grams(name, args.per_attack, 2), site)  # new texts
            gc.collect()
            held, peak = tracemalloc.get_traced_memory()
            del pipeline
        finally:
            tracemalloc.stop()
        counted = dict(stats.errors) | dict(stats.skipped)
        if stats.packets:
            counted["accepted"] = stats.packets
        size = sum(map(len, grams)) / len(grams)
        print(
            f"{name:<16} {len(grams):>9,} {size:>11,.0f} {cpu / len(grams) * 1e6:>12,.0f}"
            f" {held / 1e6:>8.1f} {peak / 1e6:>8.1f}  {counted}"
        )


def _flood(n: int, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    now = time.time_ns() // 1000
    return [invite_flood(rng, now + i * 200)[0].data for i in range(n)]


def _send_beside(
    sock: socket.socket,
    addr: tuple[str, int],
    real: list[bytes],
    flood: list[bytes],
    rate: int,
    flood_rate: int,
) -> float:
    """Send ``real`` at ``rate`` and ``flood`` at ``flood_rate`` per second, interleaved in
    1 ms slices; the achieved real rate."""
    per_real = max(1, rate // 1000)
    per_flood = max(1, flood_rate // 1000)
    start = time.perf_counter()
    i = j = 0
    while i < len(real):
        for g in real[i : i + per_real]:
            sock.sendto(g, addr)
        for g in flood[j : j + per_flood]:
            sock.sendto(g, addr)
        i += per_real
        j += per_flood
        ahead = i / rate - (time.perf_counter() - start)
        if ahead > 0:
            time.sleep(ahead)
    return min(i, len(real)) / (time.perf_counter() - start)


def flood(args: argparse.Namespace) -> None:
    server = Server(None)
    try:
        server.wait_ready()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        addr = ("127.0.0.1", server.hep_port)
        start = time.time_ns() // 1000
        best = 0
        print(f"scanner flood beside the real calls: {args.flood_rate:,} INVITEs/s")
        print("real rate (pkt/s)  achieved  real sent  flood sent  received  lost  kernel-drops")
        for rate in range(args.min_rate, args.max_rate + 1, args.rate_step):
            n_calls = max(1, rate * args.step_seconds // 6)
            calls = _calls("answered_3rd_ring", b"answered3@callwatch.test", n_calls, start, 20_000)
            start += n_calls * 20_000 + 60_000_000
            real = [g for call in calls for g in call]
            scan = _flood(args.flood_rate * len(real) // rate + 1000, rate)
            before = server.frames()
            drops_before, _, _ = server.health()
            achieved = _send_beside(sock, addr, real, scan, rate, args.flood_rate)
            flood_sent = min(
                len(scan),
                (len(real) + max(1, rate // 1000) - 1)
                // max(1, rate // 1000)
                * max(1, args.flood_rate // 1000),
            )
            drops, _, _ = server.health()
            got = server.settle() - before
            lost = len(real) + flood_sent - got
            print(
                f"{rate:>17,}  {achieved:>8,.0f}  {len(real):>9,}  {flood_sent:>10,}  {got:>8,}"
                f"  {lost:>4}  {drops - drops_before:>12}"
            )
            if lost:
                break
            best = rate
        print(f"highest real-call rate with zero loss beside the flood: {best:,} packets/s")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-attack", type=int, default=300, help="draws of each attack")
    parser.add_argument("--flood-rate", type=int, default=5_000)
    parser.add_argument("--min-rate", type=int, default=1_000)
    parser.add_argument("--max-rate", type=int, default=15_000)
    parser.add_argument("--rate-step", type=int, default=2_000)
    parser.add_argument("--step-seconds", type=int, default=5)
    parser.add_argument("--skip-attacks", action="store_true")
    parser.add_argument("--skip-flood", action="store_true")
    args = parser.parse_args()
    if not args.skip_attacks:
        per_attack(args)
    if not args.skip_flood:
        flood(args)


if __name__ == "__main__":
    main()
