"""Store throughput: rows/s for saving N generated calls with their events and verdicts, or
SIP messages/s for the live service's write path on a capture.

usage: python bench/store.py [--calls N] [--batch B] [--sqlite PATH] [--postgres URL]
       python bench/store.py --capture FILE [--config SITE] [--sqlite PATH] [--postgres URL]

Each call is an inbound call over two legs (trunk and phone: offered, alerting, answered,
ended), with answer and hang-up verdicts. Calls are saved in batches of B through
``Store.save`` (one transaction each) into a fresh SQLite file and, when reachable, a fresh
PostgreSQL database; the script prints calls/s and rows/s (calls + legs + events + verdicts).

With ``--capture`` the capture goes through the pipeline first, and its outputs and raw
messages (the fields the core parsed, ``store_process.raw_fields``) are cut into the store
process's ``write`` requests as ``callwatch serve`` sends them (500 items each, pickled); the
script times the store process's side alone (unpickling each request and
``_Backend.write``: making the raw messages, ``Store.save``) and prints SIP messages/s. A
script that prints figures; no test asserts them.
"""

from __future__ import annotations

import argparse
import gc
import pickle
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from callwatch.calls.model import Call, Leg
from callwatch.charter import rules
from callwatch.pipeline import JudgedCall
from callwatch.profile_files import builtin_profiles
from callwatch.sip import events as ev
from callwatch.store import Store, StoreUnavailable

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SITE = Path(__file__).resolve().parent.parent / "examples" / "site.toml"
_S = 1_000_000


def generate(n: int) -> list[JudgedCall]:
    """``n`` answered inbound calls, one every 10 s, each with two legs and eight events."""
    profile = builtin_profiles()["naju"]
    out = []
    for i in range(n):
        t0 = 1_790_000_000 * _S + i * 10 * _S
        legs = []
        for role, leg_id, user in (("trunk", f"t{i}", "0613390000"), ("phone", f"p{i}", "2001")):
            key = f"{leg_id}@bench;tag{i}"
            common = {"leg": key, "call_id": f"{leg_id}@bench", "from_user": "0101234"}
            events = [
                ev.Offered(at=t0, to_user=user, dialled=user, **common),
                ev.Alerting(at=t0 + _S, to_user=user, by=user, **common),
                ev.Answered(at=t0 + 4 * _S, to_user=user, by=user, **common),
                ev.Ended(at=t0 + 60 * _S, to_user=user, by="caller", answered=True, **common),
            ]
            legs.append(
                Leg(key, f"{leg_id}@bench", "0101234", user, user, t0, role, t0 + _S,
                    t0 + 4 * _S, user, t0 + 60 * _S, "caller", "bye", None, events)
            )  # fmt: skip
        call = Call(
            id=f"call{i}@bench",
            direction="inbound",
            caller="0101234",
            dialled="0613390000",
            started_at=t0,
            department="민원",
            legs=legs,
            first_ring_at=t0 + _S,
            answered_at=t0 + 4 * _S,
            answered_by="2001",
            ended_at=t0 + 60 * _S,
            hangup_by="caller",
            end_reason="bye",
        )
        out.append(JudgedCall(call, profile, rules.judge(call, profile)))
    return out


def run(label: str, url: str, calls: list[JudgedCall], batch: int) -> None:
    store = Store.open(url)
    try:
        store.upgrade()
        start = time.perf_counter()
        for i in range(0, len(calls), batch):
            store.save(calls[i : i + batch])
        elapsed = time.perf_counter() - start
        counts = store.counts()
    finally:
        store.close()
    rows = sum(counts[t] for t in ("calls", "legs", "events", "verdicts"))
    print(
        f"{label:10s} {len(calls):7d} calls {rows:8d} rows in {elapsed:6.2f} s: "
        f"{len(calls) / elapsed:8.0f} calls/s {rows / elapsed:9.0f} rows/s (batch {batch})"
    )


def requests(capture: Path, site_file: Path) -> tuple[list[bytes], int]:
    """The store process's ``write`` requests for ``capture`` as the service sends them, and
    how many SIP packets they hold."""
    from callwatch.capture import CaptureStats, read_capture
    from callwatch.config import load_site
    from callwatch.pipeline import CallPipeline
    from callwatch.store_process import StoreProcess, raw_fields

    pipe = CallPipeline(load_site(site_file))
    queue: list[object] = []
    pipe.legs.on_message = lambda packet, message: queue.append(raw_fields(packet, message))
    packets = 0
    for packet in read_capture(capture, CaptureStats()):
        queue.extend(pipe.push(packet))
        packets += 1
    queue.extend(pipe.flush())
    batches = [StoreProcess.encode("write", queue[i : i + 500]) for i in range(0, len(queue), 500)]
    return batches, packets


def run_process(label: str, url: str, site_file: Path, work: tuple[list[bytes], int]) -> None:
    """Time the store process's side of ``work`` (see :func:`requests`) on ``url``."""
    from callwatch.config import load_site
    from callwatch.settings import Settings
    from callwatch.store_process import _Backend

    batches, packets = work
    store = Store.open(url)
    store.upgrade()  # the store process migrates only SQLite itself
    store.close()
    with tempfile.TemporaryDirectory() as tmp:
        backend = _Backend(load_site(site_file), Settings(data_dir=Path(tmp), database_url=url))
        try:
            backend.prepare()
            gc.collect()
            start = time.perf_counter()
            for request in batches:
                _, args = pickle.loads(request)
                backend.write(*args)
            elapsed = time.perf_counter() - start
            stats = backend.writer.stats
        finally:
            backend.close()
    print(
        f"{label:10s} {packets:7d} SIP messages in {len(batches)} requests, {elapsed:6.2f} s: "
        f"{packets / elapsed:8.0f} msg/s (written {stats.written}, spooled {stats.spooled}, "
        f"rejected {stats.rejected})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--capture", type=Path, help="time the store process on this capture")
    parser.add_argument("--config", type=Path, default=SITE, help="site file for --capture")
    parser.add_argument("--sqlite", type=Path, help="SQLite file (default: a temporary one)")
    parser.add_argument("--postgres", default=PG_ADMIN, help="server to create a database on")
    args = parser.parse_args()
    if args.capture:
        work = requests(args.capture, args.config)

        def bench(label: str, url: str) -> None:
            run_process(label, url, args.config, work)
    else:
        calls = generate(args.calls)

        def bench(label: str, url: str) -> None:
            run(label, url, calls, args.batch)

    with tempfile.TemporaryDirectory() as tmp:
        path = args.sqlite or Path(tmp) / "bench.sqlite"
        bench("sqlite", f"sqlite:///{path}")
    _postgres(args.postgres, bench)
    return 0


def _postgres(admin_url: str, bench: Callable[[str, str], None]) -> None:
    import psycopg
    from sqlalchemy import make_url

    admin = make_url(admin_url)
    dsn = f"host={admin.host} port={admin.port or 5432} user={admin.username}"
    dsn += f" dbname={admin.database}"
    name = f"callwatch_bench_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        print(f"postgresql skipped: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return
    try:
        bench("postgresql", admin.set(database=name).render_as_string(False))
    except StoreUnavailable as exc:
        print(f"postgresql failed: {exc}", file=sys.stderr)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
