"""Store throughput: rows/s for saving N generated calls with their events and verdicts, or
SIP messages/s for the live service's write path on a capture, and where the time goes.

usage: python bench/store.py [--calls N] [--batch B] [--sqlite PATH] [--postgres URL]
       python bench/store.py --capture FILE [--config SITE] [--batch B] [--sqlite PATH]
                             [--postgres URL] [--only sqlite|postgresql] [--callgrind]

Each call is an inbound call over two legs (trunk and phone: offered, alerting, answered,
ended), with answer and hang-up verdicts. Calls are saved in batches of B through
``Store.save`` (one transaction each) into a fresh SQLite file and, when reachable, a fresh
PostgreSQL database; the script prints calls/s and rows/s (calls + legs + events + verdicts),
then saves them again into another fresh database timing ``Store.encode`` (rows made) apart
from ``Store.write`` (the database: statements, then the commit).

With ``--capture`` the capture goes through the pipeline first (timed: reading the file, the
SIP parse alone, the whole core), and its outputs and raw messages (the fields the core parsed,
``store_process.raw_fields``) are cut into the store process's ``write`` requests as
``callwatch serve`` sends them (B items each, default 500, pickled); the script times the store
process's side alone (unpickling each request and ``_Backend.write``: making the raw messages,
``Store.save``) and prints SIP messages/s, with the CPU time per message of this process and
(PostgreSQL on this machine) of its server backend, which a loaded machine stretches far less
than wall time. It then does the same work step by step into a fresh database and prints
microseconds per SIP message for each step: unpickle, raw (``store_process.store_items``: each
raw message made from the fields the core parsed; the store process never parses SIP), encode
(``Store.encode``), database (``Batch.write``'s statements, then the commit). PostgreSQL gets
databases named ``callwatch_bench_store_*``, dropped at the end.

``--callgrind``, run under ``valgrind --tool=callgrind --instr-atstart=no``, counts the
instructions of the store process's side alone (a figure the machine's load does not move);
``--only`` picks one database.

A script that prints figures; no test asserts them. The figures move with the machine's load.
"""

from __future__ import annotations

import argparse
import gc
import os
import pickle
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from sqlalchemy import make_url

from callwatch.calls.model import Call, Leg
from callwatch.capture import CaptureStats, read_capture
from callwatch.charter import rules
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline, JudgedCall
from callwatch.profile_files import builtin_profiles
from callwatch.settings import Settings
from callwatch.sip import events as ev
from callwatch.sip.message import SipParseError, parse_message
from callwatch.store import Store, StoreUnavailable
from callwatch.store.codec import StoreItem
from callwatch.store_process import StoreProcess, _Backend, raw_fields, store_items

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


@dataclass
class Steps:
    """Seconds spent in each step of the store's side (see the module's docstring)."""

    unpickle: float = 0.0
    raw: float = 0.0
    encode: float = 0.0
    statements: float = 0.0
    commit: float = 0.0

    def line(self, per: int, unit: str) -> str:
        us = {k: v * 1e6 / per for k, v in vars(self).items()}
        total = sum(us.values())
        steps = ", ".join(
            f"{k} {v:.1f}"
            for k, v in us.items()
            if k not in ("statements", "commit") and vars(self)[k]
        )
        database = us["statements"] + us["commit"]
        return (
            f"µs per {unit}: {steps}, database {database:.1f} (statements {us['statements']:.1f}, "
            f"commit {us['commit']:.1f}); {total:.1f} in all"
        )


def save_timed(store: Store, items: list[StoreItem], steps: Steps) -> None:
    """``store.save(items)``, its steps timed into ``steps``."""
    t0 = time.perf_counter()
    rows = store.encode(items)
    t1 = time.perf_counter()
    with store.engine.connect() as conn:
        conn.begin()  # the checkout (and its ping) count as statements
        rows.write(conn)
        t3 = time.perf_counter()
        conn.commit()
    t4 = time.perf_counter()
    steps.encode += t1 - t0
    steps.statements += t3 - t1
    steps.commit += t4 - t3


def run(label: str, fresh: Callable[[], str], calls: list[JudgedCall], batch: int) -> None:
    store = Store.open(fresh())
    try:
        store.upgrade()
        gc.collect()
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
    steps = Steps()
    store = Store.open(fresh())
    try:
        store.upgrade()
        gc.collect()
        for i in range(0, len(calls), batch):
            save_timed(store, list(calls[i : i + batch]), steps)
    finally:
        store.close()
    print(f"{label:10s} {steps.line(len(calls), 'call')}")


@dataclass
class Work:
    """A capture's store requests (pickled as the service sends them) and its SIP messages."""

    requests: list[bytes]
    packets: int


def requests(capture: Path, site_file: Path, batch: int) -> Work:
    """The store process's ``write`` requests for ``capture`` as the service sends them, after
    timing the way there: reading the capture, parsing its SIP once, the whole core."""
    t0 = time.perf_counter()
    packets = list(read_capture(capture, CaptureStats()))
    t1 = time.perf_counter()
    unparsed = 0
    for packet in packets:
        try:
            parse_message(packet.payload)
        except (SipParseError, ValueError):
            unparsed += 1
    t2 = time.perf_counter()
    pipe = CallPipeline(load_site(site_file))
    queue: list[object] = []
    pipe.legs.on_message = lambda packet, message: queue.append(raw_fields(packet, message))
    for packet in packets:
        queue.extend(pipe.push(packet))
    queue.extend(pipe.flush())
    t3 = time.perf_counter()
    n = len(packets)
    print(
        f"{'core':10s} {n:7d} SIP messages: read {(t1 - t0) * 1e6 / n:.1f} µs each, "
        f"SIP parse {(t2 - t1) * 1e6 / n:.1f}, core {(t3 - t2) * 1e6 / n:.1f} (the pipeline, "
        f"its parse included): {n / (t3 - t2):8.0f} msg/s ({unparsed} not SIP)"
    )
    work = [StoreProcess.encode("write", queue[i : i + batch]) for i in range(0, len(queue), batch)]
    return Work(work, n)


def run_process(
    label: str, fresh: Callable[[], str], site_file: Path, work: Work, *, callgrind: bool = False
) -> None:
    """Time the store process's side of ``work`` (see :func:`requests`) on a fresh database,
    then its steps on another."""
    site = load_site(site_file)
    url = fresh()
    store = Store.open(url)
    store.upgrade()  # the store process migrates only SQLite itself
    store.close()
    with tempfile.TemporaryDirectory() as tmp:
        backend = _Backend(site, Settings(data_dir=Path(tmp), database_url=url))
        try:
            backend.prepare()
            server = _server_cpu(backend.store)
            gc.collect()
            cpu, server_before = time.process_time(), server()
            _instrument(callgrind, "on")
            start = time.perf_counter()
            for request in work.requests:
                _, args = pickle.loads(request)
                backend.write(*args)
            elapsed = time.perf_counter() - start
            _instrument(callgrind, "off")
            cpu, server_cpu = time.process_time() - cpu, server() - server_before
            stats = backend.writer.stats
        finally:
            backend.close()
    n = work.packets
    print(
        f"{label:10s} {n:7d} SIP messages in {len(work.requests)} requests, "
        f"{elapsed:6.2f} s: {n / elapsed:8.0f} msg/s (written {stats.written}, "
        f"spooled {stats.spooled}, rejected {stats.rejected}); CPU µs per SIP message: this "
        f"process {cpu * 1e6 / n:.1f}, database server {server_cpu * 1e6 / n:.1f}"
    )
    steps = Steps()
    store = Store.open(fresh(), site=site.name)
    try:
        store.upgrade()
        store.sync_directory(site)
        gc.collect()
        for request in work.requests:
            t0 = time.perf_counter()
            _, (batch,) = pickle.loads(request)
            t1 = time.perf_counter()
            items = store_items(batch)
            t2 = time.perf_counter()
            steps.unpickle += t1 - t0
            steps.raw += t2 - t1
            save_timed(store, items, steps)
    finally:
        store.close()
    print(f"{label:10s} {steps.line(work.packets, 'SIP message')}")


def _instrument(callgrind: bool, state: str) -> None:
    """Switch callgrind's instrumentation of this process ``on`` or ``off``."""
    if callgrind:
        subprocess.run(
            ["callgrind_control", "-i", state, str(os.getpid())],
            check=True,
            stdout=subprocess.DEVNULL,
        )


def _server_cpu(store: Store) -> Callable[[], float]:
    """The CPU seconds so far of the PostgreSQL backend serving ``store``'s one pooled
    connection, read from /proc (0 on SQLite, whose work is this process's, or when the
    server is not on this machine). Load on the machine stretches wall time far more than
    CPU time, so these figures compare better across runs."""
    if store.engine.dialect.name != "postgresql":
        return lambda: 0.0
    with store.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    stat = Path(f"/proc/{pid}/stat")
    tick = os.sysconf("SC_CLK_TCK")

    def seconds() -> float:
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / tick  # utime + stime

    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--capture", type=Path, help="time the store process on this capture")
    parser.add_argument("--config", type=Path, default=SITE, help="site file for --capture")
    parser.add_argument("--sqlite", type=Path, help="SQLite file (default: a temporary one)")
    parser.add_argument("--postgres", default=PG_ADMIN, help="server to create databases on")
    parser.add_argument("--only", choices=("sqlite", "postgresql"), help="one database only")
    parser.add_argument(
        "--callgrind",
        action="store_true",
        help="under valgrind --tool=callgrind --instr-atstart=no: count instructions of the "
        "store process's side only (callgrind_control switches them on and off around it)",
    )
    args = parser.parse_args()
    if args.capture:
        work = requests(args.capture, args.config, args.batch)

        def bench(label: str, fresh: Callable[[], str]) -> None:
            run_process(label, fresh, args.config, work, callgrind=args.callgrind)
    else:
        calls = generate(args.calls)

        def bench(label: str, fresh: Callable[[], str]) -> None:
            run(label, fresh, calls, args.batch)

    with tempfile.TemporaryDirectory() as tmp:
        made = iter(range(1_000))

        def fresh_sqlite() -> str:
            n = next(made)
            path = args.sqlite if args.sqlite and n == 0 else Path(tmp) / f"bench{n}.sqlite"
            path.unlink(missing_ok=True)
            return f"sqlite:///{path}"

        if args.only != "postgresql":
            bench("sqlite", fresh_sqlite)
    if args.only != "sqlite":
        _postgres(args.postgres, bench)
    return 0


def _postgres(admin_url: str, bench: Callable[[str, Callable[[], str]], None]) -> None:
    admin = make_url(admin_url)
    dsn = f"host={admin.host} port={admin.port or 5432} user={admin.username}"
    dsn += f" dbname={admin.database}"
    made: list[str] = []

    def fresh() -> str:
        name = f"callwatch_bench_store_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        made.append(name)
        return admin.set(database=name).render_as_string(False)

    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=3):
            pass
    except psycopg.OperationalError as exc:
        print(f"postgresql skipped: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return
    try:
        bench("postgresql", fresh)
    except StoreUnavailable as exc:
        print(f"postgresql failed: {exc}", file=sys.stderr)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            for name in made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
