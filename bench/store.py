"""Store throughput: rows/s for saving N generated calls with their events and verdicts.

usage: python bench/store.py [--calls N] [--batch B] [--sqlite PATH] [--postgres URL]

Each call is an inbound call over two legs (trunk and phone: offered, alerting, answered,
ended), with answer and hang-up verdicts. Calls are saved in batches of B through
``Store.save`` (one transaction each) into a fresh SQLite file and, when reachable, a fresh
PostgreSQL database; the script prints calls/s and rows/s (calls + legs + events + verdicts).
A script that prints figures; no test asserts them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

from callwatch.calls.model import Call, Leg
from callwatch.charter import rules
from callwatch.charter.profile import builtin_profiles
from callwatch.pipeline import JudgedCall
from callwatch.sip import events as ev
from callwatch.store import Store, StoreUnavailable

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--sqlite", type=Path, help="SQLite file (default: a temporary one)")
    parser.add_argument("--postgres", default=PG_ADMIN, help="server to create a database on")
    args = parser.parse_args()
    calls = generate(args.calls)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.sqlite or Path(tmp) / "bench.sqlite"
        run("sqlite", f"sqlite:///{path}", calls, args.batch)
    _postgres(args.postgres, calls, args.batch)
    return 0


def _postgres(admin_url: str, calls: list[JudgedCall], batch: int) -> None:
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
        run("postgresql", admin.set(database=name).render_as_string(False), calls, batch)
    except StoreUnavailable as exc:
        print(f"postgresql failed: {exc}", file=sys.stderr)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
