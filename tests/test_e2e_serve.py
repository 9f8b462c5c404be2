"""End to end: fixture captures replayed as HEP over UDP, at their pace (long gaps shortened),
to a running ``callwatch serve`` → rows in the store, breaches on MQTT, /metrics that match.
Fault tests: the broker stopped mid-stream, the database cut off mid-stream (PostgreSQL behind
a TCP proxy the test can cut): every call stored once, every message published."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import aiomqtt
import httpx
import pytest

from callwatch.bus.payloads import PayloadBuilder
from callwatch.capture import Packet, encode_hep3, read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline, JudgedCall, Output
from callwatch.records import call_builtins as call_to_dict
from callwatch.site import SiteConfig
from callwatch.store import Store

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "sip_fixtures"
BIN = Path(sys.executable).parent
MAX_GAP_US = 700_000
NAMES = [
    "answered_3rd_ring",
    "agent_hangs_up_first",
    "caller_cancels",
    "busy",
    "blind_transfer",
    "ring_group_fork",
]
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"


def _port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


needs_mosquitto = pytest.mark.skipif(
    shutil.which("mosquitto") is None, reason="needs mosquitto (the Debian package)"
)


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_site(tmp_path: Path) -> tuple[Path, SiteConfig]:
    """The example site under a unique name (its own MQTT topics on a shared broker)."""
    text = (ROOT / "examples" / "site.toml").read_text(encoding="utf-8")
    name = f"e2e-{uuid.uuid4().hex[:10]}"
    path = tmp_path / "site.toml"
    path.write_text(text.replace('name = "naju-cityhall"', f'name = "{name}"'), encoding="utf-8")
    site = load_site(path)
    assert site.name == name
    return path, site


def paced(names: list[str], start: int) -> list[Packet]:
    """The fixtures one after another, gaps over MAX_GAP_US shortened, first packet at start."""
    out: list[Packet] = []
    for name in names:
        prev: int | None = None  # each fixture starts MAX_GAP_US after the one before
        for p in read_capture(FIXTURES / f"{name}.pcap"):
            gap = MAX_GAP_US if prev is None else min(max(p.ts - prev, 0), MAX_GAP_US)
            prev = p.ts
            out.append(replace(p, ts=out[-1].ts + gap if out else start))
    return out


async def replay(pk: list[Packet], port: int, *, after: dict[int, object] | None = None) -> None:
    """Send each packet as HEP when its capture time comes (the wall clock at ``ts``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for i, p in enumerate(pk):
            hook = (after or {}).get(i)
            if hook is not None:
                await hook()  # type: ignore[operator]
            delay = p.ts / 1e6 - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            s.sendto(encode_hep3(p), ("127.0.0.1", port))


@dataclass
class Expected:
    calls: list[dict]
    breaches: set[str]
    events: set[str]
    messages: int


def expected(site: SiteConfig, pk: list[Packet]) -> Expected:
    pipe = CallPipeline(site)
    out: list[Output] = [o for p in pk for o in pipe.push(p)] + pipe.flush()
    judged = sorted(
        (o for o in out if isinstance(o, JudgedCall)), key=lambda j: (j.call.started_at, j.call.id)
    )
    calls = [call_to_dict(j.call, j.profile, j.verdicts, None) for j in judged]
    messages = list(PayloadBuilder(site).build(out))
    return Expected(
        calls,
        {m.id for m in messages if m.kind == "breach"},
        {m.id for m in messages if m.kind == "event"},
        len({(p.ts, p.payload) for p in pk}),
    )


def strip(row: dict) -> dict:
    return {k: v for k, v in row.items() if k not in ("callback", "verdicts")} | {
        "verdicts": [v for v in row["verdicts"] if v["rule"] != "callback"]
    }


class Serve:
    """``callwatch serve`` in a subprocess on ephemeral ports."""

    def __init__(self, site_file: Path, data: Path, **env: str) -> None:
        self.hep_port = free_port(socket.SOCK_DGRAM)
        self.http_port = free_port()
        self.env = {
            **os.environ,
            "CALLWATCH_HEP_HOST": "127.0.0.1",
            "CALLWATCH_HEP_PORT": str(self.hep_port),
            "CALLWATCH_HTTP_HOST": "127.0.0.1",
            "CALLWATCH_HTTP_PORT": str(self.http_port),
            "CALLWATCH_DATA_DIR": str(data),
            "CALLWATCH_MONITORING": "open",  # /readyz and /metrics without an admin token
            **env,
        }
        for var in ("CALLWATCH_DATABASE_URL", "CALLWATCH_MQTT_URL"):
            if var not in env:
                self.env.pop(var, None)
        self.proc = subprocess.Popen(
            [str(BIN / "callwatch"), "serve", "--config", str(site_file)],
            env=self.env,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.url = f"http://127.0.0.1:{self.http_port}"

    async def ready(self, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while True:
                assert self.proc.poll() is None, self.stderr()
                with contextlib.suppress(httpx.HTTPError):
                    r = await client.get(f"{self.url}/readyz")
                    if r.status_code == 200:
                        return r.json()
                assert time.monotonic() < deadline, "callwatch serve never became ready"
                await asyncio.sleep(0.1)

    async def metrics(self) -> dict[str, float]:
        async with httpx.AsyncClient() as client:
            text = (await client.get(f"{self.url}/metrics")).text
        out = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    async def wait_metric(self, name: str, want: float, timeout: float = 90) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            m = await self.metrics()
            if m.get(name) == want:
                return m
            assert time.monotonic() < deadline, f"{name} = {m.get(name)}, want {want}"
            await asyncio.sleep(0.1)

    async def stop(self, timeout: float = 60) -> str:
        """SIGTERM, then wait without blocking the loop (the test's proxy runs in it)."""
        self.proc.send_signal(signal.SIGTERM)
        rc = await asyncio.to_thread(self.proc.wait, timeout)
        err = self.stderr()
        assert rc == 0, err
        return err

    def stderr(self) -> str:
        return self.proc.stderr.read() if self.proc.stderr and self.proc.poll() is not None else ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Subscriber:
    """Collects one site's MQTT messages with a persistent QoS 1 session, reconnecting."""

    def __init__(self, port: int, site: str) -> None:
        self.port = port
        self.site = site
        self.ident = f"e2e-sub-{uuid.uuid4().hex[:8]}"
        self.received: list[tuple[str, dict]] = []
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1", self.port, identifier=self.ident, clean_session=False
                ) as client:
                    # paho acknowledges QoS 1 on receipt and aiomqtt drops its queue when the
                    # connection breaks: acknowledge by hand once a message is recorded
                    client._client.manual_ack_set(True)
                    await client.subscribe(f"callwatch/{self.site}/#", qos=1)
                    self.subscribed.set()
                    async for msg in client.messages:
                        self.received.append((str(msg.topic), json.loads(msg.payload)))
                        client._client.ack(msg.mid, msg.qos)
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.subscribed.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def ids(self, kind: str) -> list[str]:
        return [body["id"] for topic, body in self.received if f"/{kind}/" in topic]

    async def wait_offline(self, timeout: float = 60) -> None:
        """Until the status a clean stop publishes (a will sent by the broker says otherwise)."""
        deadline = time.monotonic() + timeout
        while not any(
            t.endswith("/status") and b.get("state") == "offline" and b.get("reason") == "stopped"
            for t, b in self.received
        ):
            assert time.monotonic() < deadline, "no offline status"
            await asyncio.sleep(0.05)


def stored(url: str, site: str) -> tuple[list[dict], dict[str, int]]:
    db = Store.open(url, site=site)
    try:
        return list(db.export_calls()), db.counts()
    finally:
        db.close()


@contextlib.contextmanager
def mosquitto(tmp_path: Path, port: int) -> Iterator[subprocess.Popen]:
    conf = tmp_path / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
        f"persistence_location {tmp_path}/\nautosave_interval 1\nmax_queued_messages 0\n"
        # as root, mosquitto would switch to a user that cannot save sessions here, and the
        # subscriber's queued messages would vanish with the restart
        "user root\n",
        encoding="utf-8",
    )
    proc = subprocess.Popen(
        ["mosquitto", "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        for _ in range(100):
            if _port_open(port):
                break
            time.sleep(0.05)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)


# -- the happy path ------------------------------------------------------------------------


@pytest.mark.skipif(not _port_open(1883), reason="needs Mosquitto on 127.0.0.1:1883")
async def test_replay_to_serve_stores_publishes_and_counts(tmp_path: Path) -> None:
    site_file, site = write_site(tmp_path)
    serve = Serve(site_file, tmp_path / "data", CALLWATCH_MQTT_URL="mqtt://127.0.0.1:1883")
    try:
        parts = (await serve.ready())["parts"]
        assert {"hep", "store", "mqtt"} <= set(parts)
        async with Subscriber(1883, site.name) as sub:
            pk = paced(NAMES, start=time.time_ns() // 1000 + 300_000)
            want = expected(site, pk)
            assert want.breaches and len(want.calls) >= len(NAMES)
            await replay(pk, serve.hep_port)
            m = await serve.wait_metric('callwatch_packets_total{source="hep"}', len(pk))
            assert m['callwatch_frames_total{source="hep"}'] == len(pk)
            assert m.get('callwatch_decode_errors_total{source="hep",kind="bad_hep"}') is None
            await serve.stop()
            await sub.wait_offline()
        rows, counts = stored(f"sqlite:///{tmp_path / 'data' / 'callwatch.sqlite'}", site.name)
        assert [r["call"] for r in rows] == [c["call"] for c in want.calls]
        assert [strip(r) for r in rows] == [strip(c) for c in want.calls]
        assert counts["sip_messages"] == want.messages
        breaches, events = sub.ids("breaches"), sub.ids("events")
        assert Counter(breaches) == Counter(want.breaches)  # each breach once
        assert Counter(events) == Counter(want.events)
    finally:
        serve.kill()


# -- faults --------------------------------------------------------------------------------


@needs_mosquitto
async def test_broker_stopped_mid_stream_loses_nothing(tmp_path: Path) -> None:
    site_file, site = write_site(tmp_path)
    port = free_port()
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    serve = None
    with contextlib.ExitStack() as stack:
        broker = [stack.enter_context(mosquitto(broker_dir, port))]
        serve = Serve(site_file, tmp_path / "data", CALLWATCH_MQTT_URL=f"mqtt://127.0.0.1:{port}")
        stack.callback(serve.kill)
        await serve.ready()
        async with Subscriber(port, site.name) as sub:
            pk = paced(NAMES, start=time.time_ns() // 1000 + 300_000)
            want = expected(site, pk)
            third = len(pk) // 3

            async def broker_down() -> None:
                broker[0].terminate()
                broker[0].wait(10)

            async def broker_up() -> None:
                broker[0] = stack.enter_context(mosquitto(broker_dir, port))

            await replay(pk, serve.hep_port, after={third: broker_down, 2 * third: broker_up})
            await serve.wait_metric('callwatch_packets_total{source="hep"}', len(pk))
            # back on its feet: reconnected (backoff up to 30 s) and the spool sent
            m = await serve.wait_metric("callwatch_broker_connected", 1, timeout=60)
            assert m['callwatch_published_total{kind="event"}'] > 0
            await serve.wait_metric('callwatch_spool_depth{sink="mqtt"}', 0, timeout=30)
            await serve.stop()
            await sub.wait_offline()
        assert set(sub.ids("breaches")) == want.breaches
        assert set(sub.ids("events")) == want.events
        rows, _ = stored(f"sqlite:///{tmp_path / 'data' / 'callwatch.sqlite'}", site.name)
        assert len(rows) == len(want.calls)


class CuttableProxy:
    """A TCP proxy to PostgreSQL that can be cut (listener closed, connections reset)."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = free_port()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for w in list(self.writers):
            w.transport.abort()
        await self.server.wait_closed()
        self.server = None

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers |= {writer, up_w}

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await r.read(65536):
                    w.write(data)
                    await w.drain()
            w.transport.abort()

        await asyncio.gather(pipe(reader, up_w), pipe(up_r, writer))
        self.writers -= {writer, up_w}


@pytest.fixture
async def pg_url() -> AsyncIterator[str]:
    psycopg = pytest.importorskip("psycopg")
    if not _port_open(5432):
        pytest.skip("needs PostgreSQL on 127.0.0.1:5432")
    name = f"cw_e2e_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield f"postgresql+psycopg://postgres@127.0.0.1:{{port}}/{name}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_database_cut_mid_stream_spools_and_stores_everything_once(
    tmp_path: Path, pg_url: str
) -> None:
    site_file, site = write_site(tmp_path)
    direct = pg_url.format(port=5432)
    upgrade = subprocess.run(
        [str(BIN / "callwatch"), "db", "upgrade"],
        env={**os.environ, "CALLWATCH_DATABASE_URL": direct},
        capture_output=True,
        text=True,
        check=False,
    )
    assert upgrade.returncode == 0, upgrade.stderr
    proxy = CuttableProxy(5432)
    await proxy.open()
    serve = Serve(
        site_file, tmp_path / "data", CALLWATCH_DATABASE_URL=pg_url.format(port=proxy.port)
    )
    try:
        await serve.ready()
        pk = paced(NAMES, start=time.time_ns() // 1000 + 300_000)
        want = expected(site, pk)
        third = len(pk) // 3
        spooled = []

        async def reopen() -> None:
            spooled.append((await serve.metrics()).get('callwatch_spool_depth{sink="store"}', 0))
            await proxy.open()

        await replay(pk, serve.hep_port, after={third: proxy.cut, 2 * third: reopen})
        await serve.wait_metric('callwatch_packets_total{source="hep"}', len(pk))
        await serve.wait_metric('callwatch_spool_depth{sink="store"}', 0)
        await serve.stop()
    finally:
        serve.kill()
        if proxy.server is not None:
            await proxy.cut()
    assert spooled and spooled[0] > 0, "the cut never made the writer spool"
    rows, counts = stored(direct, site.name)
    assert [strip(r) for r in rows] == [strip(c) for c in want.calls]
    assert counts["calls"] == len(want.calls)
    assert counts["sip_messages"] == want.messages
    assert counts["events"] == len(want.events)
