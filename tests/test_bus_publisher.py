"""The publisher against a real Mosquitto.

The shared broker runs on 127.0.0.1:1883 (CI starts it); every test uses its own site name so
parallel runs do not see each other's messages. Fault tests start a private mosquitto on a
free port, with persistence on (so the subscriber's session and its queued messages survive a
broker restart, as they would in production), and stop and restart it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import uuid
from collections import Counter
from pathlib import Path

import aiomqtt
import pytest

from callwatch.bus.payloads import Message
from callwatch.bus.publisher import Publisher
from callwatch.bus.topics import Topics
from callwatch.capture import read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallbackNews, CallPipeline, JudgedCall
from callwatch.site import SiteConfig

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = sorted((ROOT / "sip_fixtures").glob("*.pcap"))
BROKER = "mqtt://127.0.0.1:1883"


def unique_site() -> SiteConfig:
    site = load_site(ROOT / "examples" / "site.toml")
    return dataclasses.replace(site, name=f"test-{uuid.uuid4().hex[:10]}")


@pytest.fixture(autouse=True)
def _broker_is_up() -> None:
    try:
        socket.create_connection(("127.0.0.1", 1883), timeout=2).close()
    except OSError:
        pytest.fail("Mosquitto is not running on 127.0.0.1:1883 (mosquitto -d)")


class Subscriber:
    """Collects (topic, payload) from a topic filter, reconnecting with a persistent session.

    Messages are recorded the moment the client library takes them in: aiomqtt's message
    iterator drops what is still queued when the connection breaks, after paho has already
    acknowledged it (see callwatch.bus.worker, which acknowledges by hand instead).
    """

    def __init__(self, port: int, topic: str) -> None:
        self.port = port
        self.topic = topic
        self.got: list[tuple[str, dict]] = []
        self.ready = asyncio.Event()
        self.identifier = f"test-sub-{uuid.uuid4().hex[:10]}"
        self._task: asyncio.Task | None = None

    async def __aenter__(self) -> Subscriber:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.ready.wait(), 10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    def _queue_type(self) -> type[asyncio.Queue]:
        got = self.got

        class Recording(asyncio.Queue):
            def put_nowait(self, m: aiomqtt.Message) -> None:
                got.append((str(m.topic), json.loads(m.payload)))

        return Recording

    async def _run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    "127.0.0.1",
                    self.port,
                    identifier=self.identifier,
                    clean_session=False,
                    queue_type=self._queue_type(),
                ) as client:
                    await client.subscribe(self.topic, qos=1)
                    self.ready.set()
                    async for _m in client.messages:  # only to notice a lost connection
                        pass
            except aiomqtt.MqttError:
                await asyncio.sleep(0.1)

    def ids(self) -> Counter[str]:
        return Counter(p["id"] for _t, p in self.got if "id" in p)

    async def wait_for(self, count: int, timeout: float = 20.0) -> None:
        async def enough() -> None:
            while len(set(self.ids())) < count:
                await asyncio.sleep(0.02)

        await asyncio.wait_for(enough(), timeout)


def expected_breaches(outputs: list) -> dict[str, tuple[str | None, object]]:
    expected = {}
    for item in outputs:
        if isinstance(item, JudgedCall):
            for n, v in enumerate(item.verdicts):
                index = [w.rule for w in item.verdicts[:n]].count(v.rule)
                if not v.ok:
                    expected[f"{item.call.id}:{v.rule}:{index}"] = (item.call.department, v)
        elif isinstance(item, CallbackNews):
            for v in item.verdicts:
                if not v.ok:
                    cb = item.callback
                    expected[f"{cb.call}:callback:{cb.status}"] = (cb.department, v)
    return expected


async def test_fixture_breaches_arrive_exactly_once(tmp_path: Path) -> None:
    site = unique_site()
    topics = Topics(site.name)
    async with Subscriber(1883, topics.filter("breaches")) as sub:
        outputs = []
        async with Publisher(BROKER, site, spool_dir=tmp_path / "spool") as pub:
            for pcap in FIXTURES:
                pipe = CallPipeline(site)
                for packet in read_capture(pcap):
                    out = pipe.push(packet)
                    outputs.extend(out)
                    pub.submit(out)
                out = pipe.flush()
                outputs.extend(out)
                pub.submit(out)
            expected = expected_breaches(outputs)
            assert len(expected) >= 5
            await sub.wait_for(len(expected))
            assert await pub.wait_idle(10)
        await asyncio.sleep(0.3)  # a duplicate would arrive by now
    counts = sub.ids()
    assert set(counts) == set(expected)
    assert all(n == 1 for n in counts.values()), counts
    for topic, body in sub.got:
        dept, verdict = expected[body["id"]]
        assert topic == topics.breaches(dept)
        assert body["rule"] == verdict.rule
        assert body["measured"] == verdict.measured
        assert body["limit"] == verdict.limit
        assert body["charter"] == verdict.charter
        assert "01012345678" not in json.dumps(body, ensure_ascii=False)
        assert body["caller"] in ("010-****-5678", "061-***-8731", "unavailable")
    assert pub.stats.published["breach"] == len(expected)
    assert pub.stats.dropped == 0
    await _clear_retained(1883, topics.status)


async def test_status_is_retained_online_then_offline_on_stop(tmp_path: Path) -> None:
    site = unique_site()
    status = Topics(site.name).status
    async with Publisher(BROKER, site, spool_dir=tmp_path) as pub:
        for _ in range(200):
            if pub.connected:
                break
            await asyncio.sleep(0.05)
        assert pub.connected
        # a subscriber that comes later still gets the retained status
        async with Subscriber(1883, status) as sub:
            await asyncio.wait_for(_until(lambda: sub.got), 5)
            assert sub.got[0][1]["state"] == "online"
    async with Subscriber(1883, status) as sub:
        await asyncio.wait_for(_until(lambda: sub.got), 5)
        assert sub.got[-1][1]["state"] == "offline"
        assert sub.got[-1][1]["reason"] == "stopped"
    await _clear_retained(1883, status)


async def test_last_will_when_the_publisher_dies(tmp_path: Path) -> None:
    site_name = f"test-{uuid.uuid4().hex[:10]}"
    status = Topics(site_name).status
    script = textwrap.dedent(
        f"""
        import asyncio, dataclasses, sys
        from callwatch.bus.publisher import Publisher
        from callwatch.config import load_site
        async def main():
            site = dataclasses.replace(load_site({str(ROOT / "examples" / "site.toml")!r}),
                                       name={site_name!r})
            pub = Publisher({BROKER!r}, site, spool_dir={str(tmp_path)!r}, keepalive=5)
            await pub.start()
            while pub.stats.published["status"] == 0:
                await asyncio.sleep(0.02)
            print("online", flush=True)
            await asyncio.sleep(60)
        asyncio.run(main())
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = await asyncio.wait_for(asyncio.to_thread(proc.stdout.readline), 15)
        assert line.strip() == "online"
        async with Subscriber(1883, status) as sub:
            await asyncio.wait_for(_until(lambda: sub.got), 5)
            assert sub.got[-1][1]["state"] == "online"
            proc.send_signal(signal.SIGKILL)  # no DISCONNECT: the broker sends the will
            await asyncio.wait_for(_until(lambda: sub.got[-1][1]["state"] == "offline"), 10)
            assert "reason" not in sub.got[-1][1]  # the will, not a clean stop
            assert sub.got[-1][1]["site"] == site_name
    finally:
        proc.kill()
        proc.wait()
    async with Subscriber(1883, status) as sub:  # the will was retained
        await asyncio.wait_for(_until(lambda: sub.got), 5)
        assert sub.got[-1][1]["state"] == "offline"
    await _clear_retained(1883, status)


# -- a private broker for fault tests ----------------------------------------------------


BROKER_WINDOW = 10
"""QoS 1 messages the private broker keeps in flight towards one subscriber."""


class Mosquitto:
    """A mosquitto on a free loopback port, with persistence in ``directory``."""

    def __init__(self, directory: Path) -> None:
        if shutil.which("mosquitto") is None:
            pytest.fail("mosquitto is not installed (apt-get install mosquitto)")
        self.port = _free_port()
        self.directory = directory
        self.conf = directory / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
            f"persistence true\npersistence_location {directory}/\n"
            "autosave_interval 1\nmax_queued_messages 0\n"
            f"max_inflight_messages {BROKER_WINDOW}\n"  # the broker → subscriber QoS 1 window
            "user root\n"  # as root, mosquitto would switch to a user that cannot write here
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with (self.directory / "mosquitto.log").open("ab") as log:
            self.proc = subprocess.Popen(
                ["mosquitto", "-c", str(self.conf)], stdout=log, stderr=subprocess.STDOUT
            )
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    pytest.fail(f"mosquitto exited with {self.proc.returncode}")
                import time

                time.sleep(0.02)
        pytest.fail("mosquitto did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # saves the persistent sessions
            self.proc.wait(10)
        self.proc = None


@pytest.fixture
def mosquitto(tmp_path: Path):
    broker = Mosquitto(tmp_path)
    broker.start()
    yield broker
    broker.stop()


def synthetic(site: SiteConfig, start: int, count: int) -> list[Message]:
    topics = Topics(site.name)
    return [
        Message("event", topics.events("민원"), json.dumps({"id": f"m{i}", "n": i}), f"m{i}")
        for i in range(start, start + count)
    ]


async def test_broker_down_mid_stream_loses_nothing(tmp_path: Path, mosquitto: Mosquitto) -> None:
    site = unique_site()
    topics = Topics(site.name)
    url = f"mqtt://127.0.0.1:{mosquitto.port}"
    max_inflight = 10
    async with Subscriber(mosquitto.port, topics.filter("events")) as sub:
        pub = Publisher(
            url, site, spool_dir=tmp_path / "spool", max_inflight=max_inflight, backoff=(0.05, 0.2)
        )
        await pub.start()
        n = 0
        for _ in range(30):  # steady stream while connected
            pub.submit_messages(synthetic(site, n, 20))
            n += 20
            await asyncio.sleep(0.005)
        assert sub.ids(), "the stream was flowing before the broker went away"
        await asyncio.to_thread(mosquitto.stop)  # mid-stream, messages in flight
        for _ in range(20):  # keep submitting while the broker is away
            pub.submit_messages(synthetic(site, n, 20))
            n += 20
            await asyncio.sleep(0.01)
        assert not pub.connected
        assert pub.spool_depth > 0
        await asyncio.to_thread(mosquitto.start)
        for _ in range(10):
            pub.submit_messages(synthetic(site, n, 20))
            n += 20
            await asyncio.sleep(0.005)
        try:
            await sub.wait_for(n, timeout=15)
        except TimeoutError:
            missing = sorted(int(i[1:]) for i in {f"m{i}" for i in range(n)} - set(sub.ids()))
            raise AssertionError((pub.stats, missing[:5], missing[-5:], len(missing), n)) from None
        assert await pub.wait_idle(10)
        await pub.stop()
        await asyncio.sleep(0.3)
    counts = sub.ids()
    assert set(counts) == {f"m{i}" for i in range(n)}
    duplicates = sum(c - 1 for c in counts.values())
    # only QoS 1 redeliveries, on either hop: per broken connection at most the publisher's
    # in-flight window (publisher → broker) and the broker's (broker → subscriber)
    window = max_inflight + BROKER_WINDOW
    assert duplicates <= window * pub.stats.reconnects, (duplicates, pub.stats)
    assert pub.stats.reconnects >= 1
    assert pub.stats.dropped == 0
    # in order: each message first arrives after the one before it
    first_seen: list[int] = []
    seen: set[str] = set()
    for _t, body in sub.got:
        if body["id"] not in seen:
            seen.add(body["id"])
            first_seen.append(body["n"])
    assert first_seen == sorted(first_seen)


async def test_stop_while_away_keeps_the_spool_for_the_next_publisher(tmp_path: Path) -> None:
    site = unique_site()
    topics = Topics(site.name)
    spool = tmp_path / "spool"
    await _spool_while_away(site, spool, 50)
    async with Subscriber(1883, topics.filter("events")) as sub:
        async with Publisher(BROKER, site, spool_dir=spool) as back:
            back.submit_messages(synthetic(site, 50, 5))
            await sub.wait_for(55)
        assert [b["n"] for _t, b in sub.got] == list(range(55))
    await _clear_retained(1883, topics.status)


def test_bad_url_is_a_clear_error(tmp_path: Path) -> None:
    from callwatch.bus.errors import BusConfigError
    from callwatch.bus.url import parse_url

    site = unique_site()
    with pytest.raises(BusConfigError, match="mqtt:// or mqtts://"):
        Publisher("http://broker", site, spool_dir=tmp_path)
    with pytest.raises(BusConfigError, match="names no host"):
        parse_url("mqtt://")
    url = parse_url("mqtts://u%40x:p%3Aw@[::1]")
    assert (url.host, url.port, url.tls, url.username, url.password) == (
        "::1",
        8883,
        True,
        "u@x",
        "p:w",
    )
    assert "p:w" not in repr(url) and "p:w" not in str(url)


async def test_a_spool_batch_is_consumed_as_its_pubacks_come_in(tmp_path: Path) -> None:
    """A crash while a spool batch drains sends again only what awaited its PUBACK: the spool
    gives records up as they are acknowledged, in order, never the whole batch at its end."""
    site = unique_site()
    topics = Topics(site.name)
    spool = tmp_path / "spool"
    await _spool_while_away(site, spool, 50)
    async with Subscriber(1883, topics.filter("events")) as sub:
        back = Publisher(BROKER, site, spool_dir=spool, max_inflight=2)
        consumed: list[int] = []
        ack = back.spool.ack

        def counted(count: int = 1) -> None:
            consumed.append(count)
            ack(count)

        back.spool.ack = counted  # type: ignore[method-assign]
        async with back:
            await sub.wait_for(50)
            await _until(lambda: back.spool_depth == 0)
    assert sum(consumed) == 50
    assert max(consumed) <= 2, consumed  # at most the in-flight window at a time
    await _clear_retained(1883, topics.status)


# -- helpers --------------------------------------------------------------------------------


async def _spool_while_away(site: SiteConfig, spool: Path, n: int) -> None:
    """``n`` messages submitted while the broker is away: all of them in ``spool``."""
    closed = f"mqtt://127.0.0.1:{_free_port()}"  # nothing listens there
    away = Publisher(closed, site, spool_dir=spool, backoff=(0.05, 0.1))
    await away.start()
    away.submit_messages(synthetic(site, 0, n))
    await asyncio.sleep(0.2)
    await away.stop(drain_timeout=1)
    assert away.spool_depth == n


async def _until(predicate) -> None:
    while not predicate():
        await asyncio.sleep(0.02)


async def _clear_retained(port: int, topic: str) -> None:
    async with aiomqtt.Client("127.0.0.1", port) as client:
        await client.publish(topic, b"", qos=1, retain=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_prometheus_collector_reports_the_counters(tmp_path: Path) -> None:
    from prometheus_client import CollectorRegistry, generate_latest

    from callwatch.bus.metrics import PublisherCollector

    site = unique_site()
    async with Publisher(BROKER, site, spool_dir=tmp_path) as pub:
        pub.submit_messages(synthetic(site, 0, 7))
        assert await pub.wait_idle(10)
        registry = CollectorRegistry()
        registry.register(PublisherCollector(pub))
        text = generate_latest(registry).decode()
    assert 'callwatch_mqtt_published_total{kind="event"} 7.0' in text
    assert "callwatch_mqtt_connected 1.0" in text
    assert 'callwatch_mqtt_publish_latency_seconds_bucket{le="+Inf"} 7.0' in text
    assert "callwatch_mqtt_spool_depth 0.0" in text
    await _clear_retained(1883, Topics(site.name).status)
