"""Ingest throughput: pcap → SIP messages → leg events (→ calls → verdicts), beside tshark.

usage: python bench/ingest.py [--calls N] [--rate R] [--pcap FILE] [--stage events|calls]
                              [--gc default|tuned] [--no-tshark] [--repeat N]

Without --pcap it generates (once; reused afterwards) a capture of N sipp calls over loopback
in bench/out/, made by sipp's own uac/uas scenarios and tcpdump. It then prints SIP messages per
second for our chain on one core, and tshark's rate for `-T fields` extraction of the same file
in the same run, with the ratio. A script that prints figures; no test asserts them.

``--repeat N`` runs our chain N times in this process and prints each rate, then the best and
the median: on a shared machine the best run is the one least disturbed. The first line says
what ran (commit of the imported source when it is a git checkout, core, Python) and the load
average before and after, so a figure can be quoted with its circumstances. To compare two
trees, run this script alternately with ``PYTHONPATH`` set to each one's ``src`` (or a
compiled wheel's directory), several times each (docs/performance.md).

``--gc tuned`` runs with ``gc.set_threshold(50_000, 20, 100)``, the setting a long-running
entry point (CLI, service) may choose; the library itself never touches the collector. The
chain keeps tens of thousands of lingering legs and calls alive, which the default
thresholds rescan many times (see bench/profile_chain.py for where the rest goes).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out"
TUNED_GC = (50_000, 20, 100)


def generate(path: Path, calls: int, rate: int) -> None:
    """Record ``calls`` sipp calls (INVITE/100/180/200/ACK/BYE/200) on loopback into ``path``."""
    for tool in ("sipp", "tcpdump"):
        if not shutil.which(tool):
            sys.exit(
                f"bench: {tool} is needed to generate the capture (apt-get install sip-tester)"
            )
    OUT.mkdir(exist_ok=True)
    tmp = path.with_suffix(".tmp.pcap")
    dump = subprocess.Popen(
        ["tcpdump", "-i", "lo", "-U", "-s", "0", "-w", str(tmp), "udp port 5092 or udp port 5093"],
        stderr=subprocess.PIPE,
    )
    for line in dump.stderr:  # wait until tcpdump is listening
        if b"listening" in line:
            break
    uas = subprocess.Popen(
        ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", "5093", "-bg", "-nostdin"],
        stdout=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    subprocess.run(
        [
            "sipp",
            "-sn",
            "uac",
            "127.0.0.1:5093",
            "-i",
            "127.0.0.1",
            "-p",
            "5092",
            "-m",
            str(calls),
            "-r",
            str(rate),
            "-l",
            str(rate * 4),
            "-d",
            "200",
            "-nostdin",
            "-timeout",
            str(calls // rate + 60),
            "-s",
            "2001",
        ],
        check=False,
        stdout=subprocess.DEVNULL,
    )
    time.sleep(1.0)
    subprocess.run(["pkill", "-f", "sipp -sn uas -i 127.0.0.1 -p 5093"], check=False)
    uas.wait(timeout=10)
    dump.send_signal(signal.SIGINT)
    dump.wait(timeout=10)
    tmp.rename(path)


def run_ours(path: Path, stage: str) -> tuple[int, int, float]:
    """Return (SIP messages, leg events or judged calls, seconds) for our chain on ``path``."""
    from callwatch.capture import CaptureStats, read_capture
    from callwatch.sip.feed import LegEventFeed

    stats = CaptureStats()
    start = time.perf_counter()
    if stage == "events":
        feed = LegEventFeed()
        produced = 0
        for packet in read_capture(path, stats):
            produced += len(feed.push(packet))
        produced += len(feed.flush())
    else:
        from callwatch.config import load_site
        from callwatch.pipeline import CallPipeline, JudgedCall

        site = load_site(Path(__file__).resolve().parents[1] / "examples" / "site.toml")
        pipe = CallPipeline(site)
        produced = 0
        for packet in read_capture(path, stats):
            for item in pipe.push(packet):
                if item.__class__ is JudgedCall:
                    produced += 1
        produced += sum(1 for item in pipe.flush() if isinstance(item, JudgedCall))
    return stats.packets, produced, time.perf_counter() - start


def run_store(path: Path, url: str) -> tuple[int, int, float]:
    """Return (SIP messages, stored calls, seconds) for pcap → verdicts → the store at ``url``,
    in batches as the service's writer makes them (raw SIP for the ladder included)."""
    from callwatch.capture import CaptureStats, read_capture
    from callwatch.config import load_site
    from callwatch.pipeline import CallPipeline
    from callwatch.sip.message import parse_message
    from callwatch.store import RawMessage, Store

    site = load_site(Path(__file__).resolve().parents[1] / "examples" / "site.toml")
    store = Store.open(url, site=site.name)
    store.upgrade()
    stats = CaptureStats()
    pipe = CallPipeline(site)
    batch: list[object] = []
    start = time.perf_counter()
    for packet in read_capture(path, stats):
        batch.extend(pipe.push(packet))
        batch.append(RawMessage.from_packet(packet, parse_message(packet.payload)))
        if len(batch) >= 2000:
            store.save(batch)
            batch = []
    batch.extend(pipe.flush())
    store.save(batch)
    secs = time.perf_counter() - start
    calls = store.counts()["calls"]
    store.close()
    return stats.packets, calls, secs


def _postgres_database() -> str | None:
    """A fresh PostgreSQL database on 127.0.0.1:5432 (None when unreachable)."""
    try:
        import psycopg

        name = f"callwatch_bench_{int(time.time())}"
        with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as c:
            c.execute(f'CREATE DATABASE "{name}"')
        return name
    except Exception:
        return None


def _drop_postgres(name: str) -> None:
    import psycopg

    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/test", autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def report_store(path: Path) -> None:
    """Print pcap → stored verdicts msg/s on SQLite and, when reachable, PostgreSQL."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        n, calls, secs = run_store(path, f"sqlite:///{tmp}/bench.sqlite")
        print(
            f"store sqlite: {n} SIP messages, {calls} calls stored in {secs:.2f} s "
            f"= {n / secs:,.0f} msg/s"
        )
    name = _postgres_database()
    if name is None:
        print("store postgresql: not reachable on 127.0.0.1:5432")
        return
    try:
        n, calls, secs = run_store(path, f"postgresql+psycopg://postgres@127.0.0.1:5432/{name}")
        print(
            f"store postgresql: {n} SIP messages, {calls} calls stored in {secs:.2f} s "
            f"= {n / secs:,.0f} msg/s"
        )
    finally:
        _drop_postgres(name)


def run_tshark(path: Path) -> tuple[int, float] | None:
    """Return (SIP messages, seconds) for tshark's field extraction, or None without tshark."""
    if not shutil.which("tshark"):
        return None
    start = time.perf_counter()
    proc = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-Y",
            "sip",
            "-T",
            "fields",
            "-e",
            "frame.time_epoch",
            "-e",
            "sip.Call-ID",
            "-e",
            "sip.Method",
            "-e",
            "sip.Status-Code",
            "-e",
            "sip.from.user",
            "-e",
            "sip.to.user",
        ],
        capture_output=True,
        check=True,
    )
    return proc.stdout.count(b"\n"), time.perf_counter() - start


def describe_source() -> str:
    """What is being measured: the commit of the imported callwatch (when it lies in a git
    checkout, with ``+changes`` for uncommitted edits), its core build and the Python."""
    import callwatch
    from callwatch import core_build

    where = Path(callwatch.__file__).resolve().parent
    commit = "not a git checkout"
    try:
        rev = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(where), "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        commit = rev + ("+changes" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    return (
        f"source: {commit}, core: {core_build()}, Python {platform.python_version()}, "
        f"{os.cpu_count()} CPUs"
    )


def load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=500, help="sipp calls per second")
    parser.add_argument("--pcap", type=Path)
    parser.add_argument("--stage", choices=("events", "calls"), default="calls")
    parser.add_argument("--no-tshark", action="store_true")
    parser.add_argument(
        "--store", action="store_true", help="also pcap → stored verdicts (SQLite, PostgreSQL)"
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of our chain (best, median)")
    parser.add_argument(
        "--gc",
        choices=("default", "tuned"),
        default="default",
        help="garbage collector thresholds: the interpreter's, or 50000/20/100",
    )
    args = parser.parse_args()
    if args.gc == "tuned":
        gc.set_threshold(*TUNED_GC)

    path = args.pcap or OUT / f"sipp_{args.calls}.pcap"
    if not path.exists():
        print(f"generating {args.calls} sipp calls into {path} ...", flush=True)
        generate(path, args.calls, args.rate)
    size = path.stat().st_size
    print(f"{describe_source()}; load average {load_average()} (1/5/15 min) before")
    print(
        f"file: {path.name} ({size / 1e6:.1f} MB), stage: {args.stage}, "
        f"gc thresholds: {'/'.join(map(str, gc.get_threshold()))}"
    )
    rates = []
    for _ in range(max(1, args.repeat)):
        messages, produced, secs = run_ours(path, args.stage)
        rates.append(messages / secs)
        print(
            f"callwatch: {messages} SIP messages, {produced} {args.stage} in {secs:.2f} s "
            f"= {rates[-1]:,.0f} msg/s",
            flush=True,
        )
    ours = max(rates)
    if len(rates) > 1:
        print(
            f"callwatch over {len(rates)} runs: best {ours:,.0f} msg/s, "
            f"median {statistics.median(rates):,.0f}, worst {min(rates):,.0f}"
        )
    print(f"load average {load_average()} after")
    if not args.no_tshark:
        result = run_tshark(path)
        if result is None:
            print("tshark: not installed")
        else:
            count, tsecs = result
            print(
                f"tshark -T fields: {count} SIP messages in {tsecs:.2f} s "
                f"= {count / tsecs:,.0f} msg/s; callwatch/tshark = {ours / (count / tsecs):.1f}x"
            )
    if args.store:
        report_store(path)


if __name__ == "__main__":
    main()
