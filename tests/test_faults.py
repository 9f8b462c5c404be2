"""Fault suite: ``callwatch serve`` killed (-9) at seeded random points while the database
and/or the broker is away, restarted, and compared with ``callwatch ingest`` of what was sent.

Real parts throughout: ``callwatch serve`` processes, a SQLite file (held under an exclusive
lock by the test while "away") or PostgreSQL (behind a TCP proxy the test cuts), a private
Mosquitto on a free port (stopped while "away"), and fixture captures replayed as HEP over
UDP at their pace, several calls overlapping. A subscriber takes every breach throughout.

What must hold: every call ``ingest`` finds is stored once, exactly as ingest has it; no
other call is stored; every breach is published, again only if a kill came between its PUBACK
and the record of it (at most what was being sent, per kill, with the same id).

The default run kills a few times (well under a minute). More kills and traffic::

    CALLWATCH_FAULT_KILLS=20 pytest tests/test_faults.py -s   # prints the figures
    CALLWATCH_FAULT_SEED=7 ...                                  # another draw
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import os
import random
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx

from callwatch.bus.publisher import Publisher
from callwatch.capture import Packet, encode_hep3, read_capture
from callwatch.capture.pcapwrite import write_pcap
from callwatch.sip.message import parse_message
from test_e2e_serve import (
    BIN,
    FIXTURES,
    CuttableProxy,
    Subscriber,
    expected,
    free_port,
    mosquitto,
    needs_mosquitto,
    pg_url,  # noqa: F401 (a fixture)
    stored,
    strip,
    write_site,
)

KILLS = int(os.environ.get("CALLWATCH_FAULT_KILLS", "3"))
SEED = int(os.environ.get("CALLWATCH_FAULT_SEED", "15"))
REPEATABLE = inspect.signature(Publisher).parameters["max_inflight"].default
"""What one kill can make the publisher send again (the service's default): the publishes
awaiting their PUBACK, live or from the spool (consumed from it as PUBACKs come in)."""
MAX_GAP_US = 700_000
STAGGER_US = 900_000
MIX = [  # agent_hangs_up_first, pbx_answered and hep_kamailio make breaches
    "answered_3rd_ring",
    "agent_hangs_up_first",
    "caller_cancels",
    "pbx_answered",
    "busy",
    "blind_transfer",
    "agent_hangs_up_first",
    "ring_group_fork",
    "attended_transfer",
    "hep_kamailio",
    "answered_1st_ring",
    "agent_hangs_up_first",
    "early_ringing",
    "outbound_call",
    "pbx_answered",
    "internal_call",
]


def traffic(rounds: int, mix: list[str]) -> list[Packet]:
    """``mix``, ``rounds`` times (Call-IDs made unique per copy), each fixture starting
    STAGGER_US after the one before and its gaps shortened: several calls overlap. Capture
    times are relative (the first packet at 0)."""
    out: list[Packet] = []
    start = 0
    for r in range(rounds):
        for n, name in enumerate(mix):
            pk = list(read_capture(FIXTURES / f"{name}.pcap"))
            ids = {parse_message(p.payload).call_id.encode() for p in pk}
            at, prev = start, None
            for p in pk:
                at += 0 if prev is None else min(max(p.ts - prev, 0), MAX_GAP_US)
                prev = p.ts
                payload = p.payload
                for cid in ids:
                    payload = payload.replace(cid, b"r%d-%d-%s" % (r, n, cid))
                out.append(replace(p, ts=at, payload=payload, frame=0))
            start += STAGGER_US
    out.sort(key=lambda p: p.ts)
    return out


class Server:
    """``callwatch serve`` on fixed ports, each start in a session of its own, its stderr in
    a file per start."""

    def __init__(self, site_file: Path, data: Path, logs: Path, **env: str) -> None:
        self.site_file = site_file
        self.logs = logs
        self.hep_port = free_port(socket.SOCK_DGRAM)
        self.http_port = free_port()
        self.env = {
            **os.environ,
            "CALLWATCH_HEP_HOST": "127.0.0.1",
            "CALLWATCH_HEP_PORT": str(self.hep_port),
            "CALLWATCH_HTTP_HOST": "127.0.0.1",
            "CALLWATCH_HTTP_PORT": str(self.http_port),
            "CALLWATCH_DATA_DIR": str(data),
            "CALLWATCH_MONITORING": "open",
            **env,
        }
        self.url = f"http://127.0.0.1:{self.http_port}"
        self.starts = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.sessions: list[int] = []

    def start(self) -> None:
        self.starts += 1
        with open(self.logs / f"serve-{self.starts}.log", "wb") as err:
            self.proc = subprocess.Popen(
                [str(BIN / "callwatch"), "serve", "--config", str(self.site_file)],
                env=self.env,
                stderr=err,
                start_new_session=True,
            )
        self.sessions.append(self.proc.pid)

    def log(self) -> str:
        return (self.logs / f"serve-{self.starts}.log").read_text(errors="replace")

    async def ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while True:
                assert self.proc is not None and self.proc.poll() is None, self.log()
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/readyz")).status_code == 200:
                        return
                assert time.monotonic() < deadline, "callwatch serve never became ready"
                await asyncio.sleep(0.1)

    async def metric(self, name: str) -> float | None:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{self.url}/metrics")).text
        for line in text.splitlines():
            if line.startswith(name + " "):
                return float(line.rsplit(" ", 1)[1])
        return None

    async def wait_metric(self, name: str, want: float, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while (got := await self.metric(name)) != want:
            assert time.monotonic() < deadline, f"{name} = {got}, want {want}\n{self.log()}"
            await asyncio.sleep(0.2)

    def kill(self, *, alone: bool = False) -> None:
        """kill -9 the service and its store process at once (as a crash of the unit does),
        or ``alone``: the service only (its store process then finishes on its own)."""
        if self.proc is not None and self.proc.poll() is None:
            if alone:
                self.proc.kill()
            else:
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def kill_all(self) -> None:
        """Whatever is left of every start."""
        self.kill()
        for session in self.sessions:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(session, signal.SIGKILL)

    async def stop(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        rc = await asyncio.to_thread(self.proc.wait, 90)
        assert rc == 0, self.log()


class SqliteAway:
    """The embedded database made unreachable: the test holds its write lock."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.conn: sqlite3.Connection | None = None

    async def away(self) -> None:
        self.conn = sqlite3.connect(self.path, isolation_level=None, timeout=30)
        self.conn.execute("BEGIN EXCLUSIVE")

    async def back(self) -> None:
        if self.conn is not None:
            self.conn.execute("ROLLBACK")
            self.conn.close()
            self.conn = None


class PostgresAway:
    """PostgreSQL behind a proxy: cut, nothing answers on its port."""

    def __init__(self, proxy: CuttableProxy) -> None:
        self.proxy = proxy

    async def away(self) -> None:
        if self.proxy.server is not None:
            await self.proxy.cut()

    async def back(self) -> None:
        if self.proxy.server is None:
            await self.proxy.open()


@dataclass
class Figures:
    kills: int = 0
    calls: int = 0
    lost: list[str] = field(default_factory=list)
    doubled: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    breaches: int = 0
    unpublished: list[str] = field(default_factory=list)
    published_twice: list[str] = field(default_factory=list)
    events: tuple[int, int] = (0, 0)  # stored, expected
    messages: tuple[int, int] = (0, 0)  # SIP messages stored, sent
    faults: Counter[str] = field(default_factory=Counter)

    def line(self) -> str:
        return (
            f"kills {self.kills} ({dict(self.faults)}), calls {self.calls}, lost "
            f"{len(self.lost)}, doubled {len(self.doubled)}, differing {len(self.wrong)}, "
            f"breaches {self.breaches}, unpublished {len(self.unpublished)}, published twice "
            f"{len(self.published_twice)}, events stored {self.events[0]} of "
            f"{self.events[1]}, SIP messages stored {self.messages[0]} of {self.messages[1]}"
        )


async def run_faults(tmp_path: Path, kills: int, seed: int, db_url: str | None = None) -> Figures:
    rng = random.Random(seed)
    site_file, site = write_site(tmp_path)
    data = tmp_path / "data"
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    port = free_port()
    env = {"CALLWATCH_MQTT_URL": f"mqtt://127.0.0.1:{port}"}
    proxy = None
    if db_url is not None:
        proxy = CuttableProxy(5432)
        await proxy.open()
        env["CALLWATCH_DATABASE_URL"] = db_url.format(port=proxy.port)
        database: SqliteAway | PostgresAway = PostgresAway(proxy)
        url = db_url.format(port=5432)
    else:
        env["CALLWATCH_DATABASE_URL"] = f"sqlite:///{data / 'callwatch.sqlite'}"
        database = SqliteAway(data / "callwatch.sqlite")
        url = env["CALLWATCH_DATABASE_URL"]
    rounds = kills // 4
    rel = traffic(rounds, MIX) if rounds > 1 else traffic(1, MIX[:10])
    points = sorted(rng.sample(range(5, len(rel) + 1), kills))  # kill after packet i is sent
    figures = Figures()
    sent: list[Packet] = []
    with contextlib.ExitStack() as stack:
        broker = [stack.enter_context(mosquitto(broker_dir, port))]
        server = Server(site_file, data, tmp_path, **env)
        stack.callback(server.kill_all)
        server.start()
        await server.ready()
        async with Subscriber(port, site.name) as sub:
            base = time.time_ns() // 1000 + 500_000
            hep = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            stack.callback(hep.close)
            index = 0
            for point in [*points, None]:
                end = len(rel) if point is None else point
                fault = rng.choice(["database", "broker", "both", "database", "none"])
                early = rng.randint(index, end) if end > index else end  # the fault starts
                for i in range(index, end):
                    if i == early and point is not None:
                        await apply(fault, database, broker, stack, broker_dir, port, up=False)
                    p = replace(rel[i], ts=rel[i].ts + base)
                    delay = p.ts / 1e6 - time.time()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    hep.sendto(encode_hep3(p), ("127.0.0.1", server.hep_port))
                    sent.append(p)
                index = end
                if point is None:
                    break
                if early == end:
                    await apply(fault, database, broker, stack, broker_dir, port, up=False)
                await asyncio.sleep(rng.uniform(0, 1.5))  # outputs pile up where they wait
                alone = rng.random() < 0.3
                server.kill(alone=alone)
                figures.kills += 1
                figures.faults[fault + (" (service alone)" if alone else "")] += 1
                if isinstance(database, SqliteAway) or rng.random() < 0.5:
                    await database.back()  # else PostgreSQL comes back after the restart
                stopped_at = time.time_ns() // 1000
                server.start()
                await server.ready()
                await database.back()
                await apply("broker", database, broker, stack, broker_dir, port, up=True)
                # the rest of the traffic resumes where it stopped, shifted by the down time
                base += time.time_ns() // 1000 - stopped_at + 300_000
            await asyncio.sleep(1.0)
            await server.wait_metric('callwatch_spool_depth{sink="store"}', 0, timeout=90)
            await server.wait_metric("callwatch_broker_connected", 1, timeout=90)
            await server.wait_metric('callwatch_spool_depth{sink="mqtt"}', 0, timeout=90)
            await server.stop()
            await sub.wait_offline()
            received = Counter(sub.ids("breaches"))
    if proxy is not None and proxy.server is not None:
        await proxy.cut()

    capture = tmp_path / "sent.pcap"
    write_pcap(capture, sent)
    ingest = subprocess.run(
        [str(BIN / "callwatch"), "ingest", "--config", str(site_file), str(capture)],
        capture_output=True,
        text=True,
        check=True,
    )
    want = {row["call"]: strip(row) for row in map(json.loads, ingest.stdout.splitlines())}
    rows, counts = stored(url, site.name)
    got = Counter(row["call"] for row in rows)
    have = {row["call"]: strip(row) for row in rows}
    figures.calls = len(want)
    figures.lost = sorted(set(want) - set(have))
    figures.doubled = sorted({c for c, n in got.items() if n > 1} | (set(have) - set(want)))
    figures.wrong = sorted(c for c in set(want) & set(have) if want[c] != have[c])
    want_out = expected(site, sent)
    breaches = want_out.breaches
    figures.breaches = len(breaches)
    figures.events = (counts["events"], len(want_out.events))
    figures.messages = (counts["sip_messages"], want_out.messages)
    figures.unpublished = sorted(breaches - set(received))
    figures.published_twice = sorted(b for b, n in received.items() if n > 1)
    return figures


async def apply(
    fault: str,
    database: SqliteAway | PostgresAway,
    broker: list[subprocess.Popen[bytes]],
    stack: contextlib.ExitStack,
    broker_dir: Path,
    port: int,
    *,
    up: bool,
) -> None:
    """Take the database and/or the broker away (``up`` False), or bring the broker back."""
    if up:
        if broker[0].poll() is not None:
            broker[0] = stack.enter_context(mosquitto(broker_dir, port))
        return
    if fault in ("database", "both"):
        await database.away()
    if fault in ("broker", "both") and broker[0].poll() is None:
        broker[0].terminate()
        await asyncio.to_thread(broker[0].wait, 10)


def check(figures: Figures) -> None:
    print(f"\nfault suite: {figures.line()}", file=sys.stderr)
    assert figures.kills and figures.calls
    assert not figures.lost, figures.line()
    assert not figures.doubled, figures.line()
    assert not figures.wrong, figures.line()
    assert not figures.unpublished, figures.line()
    # At least once: a breach the broker acknowledged just before a kill, before it was
    # recorded, goes out again with the same id (bus/published.py). Each kill can repeat at
    # most what was being sent; more would mean the replay republishes.
    assert len(figures.published_twice) <= figures.kills * REPEATABLE, figures.line()
    assert figures.events[0] == figures.events[1], figures.line()
    assert figures.messages[0] == figures.messages[1], figures.line()


@needs_mosquitto
async def test_kill_9_with_sqlite_or_broker_away_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    check(await run_faults(tmp_path, KILLS, SEED))


@needs_mosquitto
async def test_kill_9_with_postgresql_away_loses_and_doubles_nothing(
    tmp_path: Path,
    pg_url: str,  # noqa: F811
) -> None:
    direct = pg_url.format(port=5432)
    upgrade = subprocess.run(
        [str(BIN / "callwatch"), "db", "upgrade"],
        env={**os.environ, "CALLWATCH_DATABASE_URL": direct},
        capture_output=True,
        text=True,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    check(await run_faults(tmp_path, max(2, KILLS // 2), SEED + 1, pg_url))
