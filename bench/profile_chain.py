"""Where the core chain spends its time: a cProfile run, top functions printed.

usage: python bench/profile_chain.py [--pcap FILE] [--stage read|parse|events|calls]
                                     [--messages N] [--sort tottime|cumtime] [--top N]
                                     [--only load|run]

Reads the capture (default: bench/out/sipp_20000.pcap, made by bench/ingest.py) into memory
first, so the profile shows the stage itself and not the disk; ``--stage read`` profiles the
pcap reader instead. Prints the wall time of the unprofiled run (msg/s), then the top
functions of a profiled run. A developer's tool: nothing imports it and no test runs it.

``--only load`` imports and reads the capture and stops; ``--only run`` also runs the stage
once, unprofiled. Under ``valgrind --tool=callgrind`` the difference of the two counts is the
stage's own instructions, which repeat exactly from run to run on a busy machine where wall
time does not (docs/performance.md has the commands).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PCAP = ROOT / "bench" / "out" / "sipp_20000.pcap"


def load(path: Path, limit: int | None) -> list:
    """The SIP packets of ``path`` (the first ``limit`` of them)."""
    from callwatch.capture import read_capture

    packets = []
    for packet in read_capture(path):
        packets.append(packet)
        if limit is not None and len(packets) >= limit:
            break
    return packets


def stage_runner(stage: str, path: Path, packets: list):
    """A no-argument function that runs ``stage`` once over ``packets``; returns a count."""
    if stage == "read":
        from callwatch.capture import read_capture

        def run_read() -> int:
            return sum(1 for _ in read_capture(path))

        return run_read
    if stage == "parse":
        from callwatch.sip.message import parse_message

        def run_parse() -> int:
            for packet in packets:
                parse_message(packet.payload)
            return len(packets)

        return run_parse
    if stage == "events":
        from callwatch.sip.feed import LegEventFeed

        def run_events() -> int:
            feed = LegEventFeed()
            produced = 0
            for packet in packets:
                produced += len(feed.push(packet))
            return produced + len(feed.flush())

        return run_events
    from callwatch.config import load_site
    from callwatch.pipeline import CallPipeline

    site = load_site(ROOT / "examples" / "site.toml")

    def run_calls() -> int:
        pipe = CallPipeline(site)
        produced = 0
        for packet in packets:
            produced += len(pipe.push(packet))
        return produced + len(pipe.flush())

    return run_calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pcap", type=Path, default=DEFAULT_PCAP)
    parser.add_argument("--stage", choices=("read", "parse", "events", "calls"), default="calls")
    parser.add_argument("--messages", type=int, help="only the first N SIP messages")
    parser.add_argument("--sort", choices=("tottime", "cumtime"), default="tottime")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--gc", default="50000,20,100", help="gc thresholds as the CLI sets them, or 'default'"
    )
    parser.add_argument(
        "--only",
        choices=("load", "run"),
        help="no profile: only load the capture, or load it and run the stage once (callgrind)",
    )
    args = parser.parse_args()
    if not args.pcap.exists():
        sys.exit(f"{args.pcap} not found: run bench/ingest.py once to generate it")
    if args.gc != "default":
        gc.set_threshold(*(int(x) for x in args.gc.split(",")))

    packets = load(args.pcap, args.messages)
    run = stage_runner(args.stage, args.pcap, packets)
    if args.only == "load":
        print(f"{args.pcap.name}: {len(packets)} SIP messages loaded, stage {args.stage} not run")
        return
    if args.only == "run":
        produced = run()
        print(f"{args.pcap.name}, stage {args.stage}: {len(packets)} SIP messages, {produced} out")
        return
    start = time.perf_counter()
    produced = run()
    secs = time.perf_counter() - start
    count = len(packets)
    print(
        f"{args.pcap.name}, stage {args.stage}: {count} SIP messages, {produced} out, "
        f"{secs:.2f} s = {count / secs:,.0f} msg/s (unprofiled)"
    )
    profiler = cProfile.Profile()
    profiler.enable()
    run()
    profiler.disable()
    stats = pstats.Stats(profiler)
    stats.strip_dirs().sort_stats(args.sort).print_stats(args.top)


if __name__ == "__main__":
    main()
