"""Scale-out: two collectors publish over Mosquitto, one worker stores in PostgreSQL.

Collector A replays the even-numbered fixture captures, collector B the odd-numbered ones
plus one capture A also replays (two capture agents seeing the same call). The worker must
store every call once, exactly as ``callwatch ingest`` of the same captures prints it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import heapq
import json
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiomqtt
import psycopg
import pytest

from callwatch.bus.collect import run_collect
from callwatch.bus.errors import PayloadError
from callwatch.bus.payloads import PayloadBuilder
from callwatch.bus.session import Session
from callwatch.bus.topics import Topics
from callwatch.bus.url import parse_url
from callwatch.bus.worker import WorkerStats, decode_message, run_worker
from callwatch.bus.worker_state import GONE, LOST, Peer, parse_state, state_payload
from callwatch.capture import read_capture
from callwatch.capture.packet import Packet
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline, JudgedCall
from callwatch.records import call_builtins as call_to_dict
from callwatch.site import SiteConfig
from callwatch.store import Store

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "sip_fixtures").glob("*.pcap"))
BROKER = "mqtt://127.0.0.1:1883"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test?options=-csearch_path%3D{schema}"
SHARED = "answered_3rd_ring.pcap"


@pytest.fixture
def pg_url() -> Iterator[str]:
    try:
        admin = psycopg.connect(PG_ADMIN, autocommit=True)
    except psycopg.OperationalError as exc:
        pytest.skip(
            f"PostgreSQL is not reachable on 127.0.0.1:5432 (user postgres, db test): {exc}"
        )
    schema = f"bus_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield PG_URL.format(schema=schema)
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def merged(paths: list[Path]) -> list[Packet]:
    return list(heapq.merge(*(read_capture(p) for p in paths), key=lambda p: p.ts))


def ingest_rows(site: SiteConfig, packets: list[Packet]) -> dict[str, dict]:
    """What ``callwatch ingest`` prints for these packets, by call id."""
    pipe = CallPipeline(site)
    judged: list[JudgedCall] = []
    for packet in packets:
        judged.extend(o for o in pipe.push(packet) if isinstance(o, JudgedCall))
    judged.extend(o for o in pipe.flush() if isinstance(o, JudgedCall))
    rows = {}
    for j in judged:
        verdicts, cb = pipe.as_now(j)
        rows[j.call.id] = call_to_dict(j.call, j.profile, verdicts, cb)
    return rows


async def test_two_collectors_one_worker(tmp_path: Path, pg_url: str) -> None:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=2).close()
    except OSError:
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883 (mosquitto -d)")
    site = dataclasses.replace(
        load_site(ROOT / "examples" / "site.toml"), name=f"test-{uuid.uuid4().hex[:10]}"
    )
    shared = ROOT / "sip_fixtures" / SHARED
    a_files = FIXTURES[0::2]
    b_files = [p for p in FIXTURES[1::2] if p != shared] + [shared]
    assert shared in a_files, "the shared capture must be replayed by both collectors"
    a_packets, b_packets = merged(a_files), merged(b_files)
    expected_a, expected_b = ingest_rows(site, a_packets), ingest_rows(site, b_packets)
    overlap = set(expected_a) & set(expected_b)
    assert overlap, "some call must be seen by both collectors"
    for call_id in overlap:
        assert expected_a[call_id] == expected_b[call_id]
    expected = {**expected_a, **expected_b}

    stop, ready = asyncio.Event(), asyncio.Event()
    stats = WorkerStats()
    worker = asyncio.create_task(
        run_worker(
            site,
            BROKER,
            pg_url,
            group=f"g{uuid.uuid4().hex[:6]}",
            spool_dir=tmp_path / "worker-spool",
            identifier=f"test-worker-{uuid.uuid4().hex[:8]}",
            stop=stop,
            ready=ready,
            stats=stats,
        )
    )
    await asyncio.wait_for(ready.wait(), 20)
    collected = await asyncio.gather(
        run_collect(site, a_packets, BROKER, spool_dir=tmp_path / "a", identifier=f"{site.name}-a"),
        run_collect(
            site, iter(b_packets), BROKER, spool_dir=tmp_path / "b", identifier=f"{site.name}-b"
        ),
    )
    published_calls = sum(s.published["call"] for s in collected)
    assert published_calls == len(expected_a) + len(expected_b)

    store = Store.open(pg_url, site=site.name)
    try:
        for _ in range(400):
            if stats.received >= published_calls and not _waiting(store, expected):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(worker, 20)
        assert stats.rejected == 0
        assert stats.received >= published_calls
        stored = {row["call"]: row for row in store.export_calls()}
        assert set(stored) == set(expected)  # each call once, the shared one too
        for call_id, row in expected.items():
            assert stored[call_id] == row, call_id
        assert store.counts()["calls"] == len(expected)
    finally:
        store.close()
        async with aiomqtt.Client("127.0.0.1", 1883) as client:  # no retained test status left
            await client.publish(Topics(site.name).status, b"", qos=1, retain=True)


def _waiting(store: Store, expected: dict[str, dict]) -> bool:
    stored = {row["call"]: row for row in store.export_calls()}
    return any(stored.get(k) != v for k, v in expected.items())


def test_worker_refuses_what_is_not_a_call() -> None:
    site = load_site(ROOT / "examples" / "site.toml")
    for payload in (
        b"not json",
        b"[1]",
        json.dumps({"type": "event"}).encode(),
        b'{"type":"call"}',
    ):
        with pytest.raises(PayloadError):
            decode_message(payload, site)


# -- workers leaving the group ------------------------------------------------------------


def _broker_up() -> None:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=2).close()
    except OSError:
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883 (mosquitto -d)")


def _test_site() -> SiteConfig:
    return dataclasses.replace(
        load_site(ROOT / "examples" / "site.toml"), name=f"test-{uuid.uuid4().hex[:10]}"
    )


class Workers:
    """Worker tasks of one group on one store, started and stopped by name."""

    def __init__(self, site: SiteConfig, store_url: str, tmp_path: Path) -> None:
        self.site, self.store_url, self.tmp_path = site, store_url, tmp_path
        self.group = f"g{uuid.uuid4().hex[:6]}"
        self.tasks: dict[str, asyncio.Task[WorkerStats]] = {}
        self.stops: dict[str, asyncio.Event] = {}
        self.stats: dict[str, WorkerStats] = {}
        self.names: set[str] = set()

    def ident(self, name: str) -> str:
        return f"{self.site.name}-{name}"

    async def start(self, name: str) -> WorkerStats:
        stop, ready = asyncio.Event(), asyncio.Event()
        stats = WorkerStats()
        self.names.add(name)
        self.stops[name], self.stats[name] = stop, stats
        self.tasks[name] = asyncio.create_task(
            run_worker(
                self.site,
                BROKER,
                self.store_url,
                group=self.group,
                spool_dir=self.tmp_path / f"spool-{name}-{stats.connects}-{id(stats)}",
                identifier=self.ident(name),
                session_expiry=300,
                stop=stop,
                ready=ready,
                stats=stats,
            )
        )
        await asyncio.wait_for(ready.wait(), 20)
        return stats

    async def stop(self, *names: str) -> None:
        for name in names:
            self.stops[name].set()
        await asyncio.wait_for(asyncio.gather(*(self.tasks[n] for n in names)), 60)

    async def close(self) -> None:
        """Stop what runs and end every session the test made (nothing left on the broker)."""
        running = [n for n, t in self.tasks.items() if not t.done()]
        if running:
            await self.stop(*running)
        for name in self.names:
            session = Session(parse_url(BROKER), self.ident(name), expiry=60, max_inflight=10)
            async with session.client as client:
                await client.publish(
                    Topics(self.site.name).worker(self.ident(name)), b"", retain=True
                )
                await session.end()
        async with aiomqtt.Client("127.0.0.1", 1883) as client:
            await client.publish(Topics(self.site.name).status, b"", qos=1, retain=True)


async def _session_present(identifier: str) -> bool:
    session = Session(parse_url(BROKER), identifier, expiry=60, max_inflight=10)
    async with session.client:
        present = bool(session.present)
        await session.end()
    return present


def _lossless_messages(site: SiteConfig, packets: list[Packet]) -> int:
    """How many call and callback messages a collector publishes while it reads ``packets``
    (before the flush at the end of its source)."""
    builder = PayloadBuilder(site, events=False, breaches=False, calls=True)
    pipe = CallPipeline(site)
    return sum(1 for packet in packets for _ in builder.build(pipe.push(packet)))


async def _wait_received(workers: list[WorkerStats], count: int, seconds: float = 30) -> None:
    """Until the workers together have received ``count`` call and callback messages."""
    deadline = asyncio.get_running_loop().time() + seconds
    while sum(w.received for w in workers) < count:
        assert asyncio.get_running_loop().time() < deadline, (count, workers)
        await asyncio.sleep(0.01)


async def _wait_stored(store: Store, expected: dict[str, dict], seconds: float = 20) -> None:
    for _ in range(int(seconds / 0.05)):
        if not _waiting(store, expected):
            return
        await asyncio.sleep(0.05)


def _assert_stored_once(store: Store, expected: dict[str, dict]) -> None:
    stored = {row["call"]: row for row in store.export_calls()}
    assert sorted(set(expected) - set(stored)) == [], "calls never stored"
    assert set(stored) == set(expected)
    for call_id, row in expected.items():
        assert stored[call_id] == row, call_id
    assert store.counts()["calls"] == len(expected)


async def test_worker_stopped_halfway_strands_nothing(tmp_path: Path, pg_url: str) -> None:
    """Of two workers, one is stopped (as by SIGTERM) halfway through a replay.

    It leaves the group, stores what it had received and ends its session: every call of
    the capture is stored once, and nothing waits for it on the broker.
    """
    _broker_up()
    site = _test_site()
    packets = merged(FIXTURES)
    expected = ingest_rows(site, packets)
    workers = Workers(site, pg_url, tmp_path)
    store = Store.open(pg_url, site=site.name)
    try:
        a = await workers.start("a")
        b = await workers.start("b")
        received_before_stop = {}
        half = len(packets) // 2
        first_half = _lossless_messages(site, packets[:half])

        async def replay() -> AsyncIterator[Packet]:
            for packet in packets[:half]:
                yield packet
            await _wait_received([a, b], first_half)  # the first half reached the workers
            received_before_stop.update(a=a.received, b=b.received)
            await workers.stop("b")
            for packet in packets[half:]:
                yield packet

        stats = await run_collect(
            site, replay(), BROKER, spool_dir=tmp_path / "c", identifier=f"{site.name}-c"
        )
        assert received_before_stop["b"] > 0, "b must have had its share before it stopped"
        after_stop = stats.published["call"] - sum(received_before_stop.values())
        assert after_stop >= 4, "calls must be published after the stop"
        await _wait_stored(store, expected)
        _assert_stored_once(store, expected)
        assert b.received == received_before_stop["b"]  # nothing routed to b after it left
        assert not await _session_present(workers.ident("b"))
    finally:
        store.close()
        await workers.close()


async def test_two_workers_stopped_together_keep_a_session(tmp_path: Path, pg_url: str) -> None:
    """Both workers stop at once, calls are published while none runs, one comes back.

    At least one of them must keep its subscription (else the broker drops what nobody is
    subscribed to); the one that comes back stores everything, the other's session too.
    """
    _broker_up()
    site = _test_site()
    packets = merged(FIXTURES)
    expected = ingest_rows(site, packets)
    workers = Workers(site, pg_url, tmp_path)
    store = Store.open(pg_url, site=site.name)
    try:
        await workers.start("a")
        await workers.start("b")
        await workers.stop("a", "b")
        await run_collect(
            site, packets, BROKER, spool_dir=tmp_path / "c", identifier=f"{site.name}-c"
        )
        a = await workers.start("a")
        await _wait_stored(store, expected)
        _assert_stored_once(store, expected)
        assert a.received >= len(expected)
    finally:
        store.close()
        await workers.close()


def test_worker_state_round_trip() -> None:
    topics = Topics("나주/시청")
    name = "worker/1+#"
    topic = topics.worker(name)
    assert topic == "callwatch/나주%2F시청/workers/worker%2F1%2B%23"
    assert topics.parse(topics.worker_sync(name)) == ("workers", "worker%2F1%2B%23/sync")
    assert parse_state(topics, topic, state_payload(LOST, name, "g")) == Peer(name, LOST, "g")
    assert parse_state(topics, topic, state_payload(GONE, name, "g")) == Peer(name, GONE)
    assert parse_state(topics, topics.worker_sync(name), b"token") is None
    assert parse_state(topics, topic, b"not json") is None
    assert parse_state(Topics("other"), topic, state_payload(LOST, name, "g")) is None
