"""The MQTT publisher: pipeline outputs in, QoS 1 messages out, nothing lost while away.

Theory of operation:

- :meth:`Publisher.submit` turns outputs into :class:`~callwatch.bus.payloads.Message` and
  queues them; it never blocks and never raises. Messages are sent in the order submitted.
- Where a message waits: in memory while the broker is connected and the spool is empty; in
  the on-disk spool otherwise (a :class:`~callwatch.diskqueue.DurableQueue`, one record per
  message, see :func:`message_record`: broker away, or more than
  ``memory_limit`` waiting). Once the spool holds anything, new messages go behind it, so
  order holds. When the connection breaks, whatever was not acknowledged goes to the spool
  (the batch in flight at its front); on :meth:`stop` whatever is left goes there too and a
  later publisher on the same ``spool_dir`` sends it.
- One background task connects (aiomqtt, persistent session, keepalive, a retained last will
  ``{"state": "offline"}`` on the status topic), publishes ``{"state": "online"}`` retained,
  then sends with at most ``max_inflight`` QoS 1 publishes awaiting their PUBACK: messages
  from memory one by one as the window allows, a spool backlog in batches of ``batch_size``.
  A watcher on the client's message stream notices a lost connection at once. It reconnects
  with exponential backoff and full jitter.
- A message whose PUBACK was lost with the connection is sent again: consumers see a QoS 1
  duplicate with the same ``id``.
- The spool is bounded (``spool_max_bytes``): when full, new messages are dropped, counted in
  ``stats.dropped`` and logged — the one case where messages are lost.
- With the service's packet journal: each message carries the journal position (``mark``) of
  the record it came from, :meth:`Publisher.volatile_mark` tells the oldest one held only in
  memory, and ``published`` (a :class:`~callwatch.bus.published.PublishedLog`) records each
  breach once it is PUBACKed or spooled. Breaches submitted again from a replay of the
  journal (``mark`` up to ``replay_through``) that it holds are dropped: each breach is
  published once across a crash.

Wall-clock time is used for backoff, the status payload and the latency histogram only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
import time
from collections import deque
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import aiomqtt

from callwatch import __version__
from callwatch.bus.payloads import KINDS, Message, PayloadBuilder, dumps
from callwatch.bus.published import PublishedLog
from callwatch.bus.url import BrokerURL, parse_url
from callwatch.diskqueue import DurableQueue, QueueError, QueueFull
from callwatch.pipeline import Output
from callwatch.site import SiteConfig
from callwatch.timefmt import iso

log = logging.getLogger(__name__)

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0)
"""Upper bounds (s) of the submit → PUBACK latency histogram; a last bucket is +Inf."""


@dataclass(slots=True)
class PublisherStats:
    """Counters for Prometheus: read them, never write them."""

    published: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    submitted: int = 0
    spooled: int = 0
    dropped: int = 0
    build_errors: int = 0
    reconnects: int = 0
    connects: int = 0
    connected: bool = False
    latency_counts: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BUCKETS) + 1))
    latency_sum: float = 0.0

    def observe(self, seconds: float) -> None:
        """Count one submit → PUBACK latency."""
        self.latency_sum += seconds
        for i, bound in enumerate(LATENCY_BUCKETS):
            if seconds <= bound:
                self.latency_counts[i] += 1
                return
        self.latency_counts[-1] += 1


class Publisher:
    """Publishes one site's pipeline outputs to an MQTT broker (see the module text).

    ``url`` is ``mqtt://[user:pass@]host[:port]`` or ``mqtts://...``; ``identifier`` names the
    persistent session (default ``callwatch-<site>-<hostname>``; give each process on a host
    its own). ``events``, ``breaches`` and ``calls`` choose what is published (``calls``: the
    lossless calls/callbacks topics that workers store); ``reveal_numbers`` turns masking off.
    ``probe_callers`` are the probe's numbers (the setting ``probe_user``), whose calls are
    tagged ``probe``.
    """

    def __init__(
        self,
        url: str,
        site: SiteConfig,
        *,
        spool_dir: str | Path,
        max_inflight: int = 10,
        identifier: str | None = None,
        keepalive: int = 30,
        memory_limit: int = 10_000,
        batch_size: int = 500,
        spool_max_bytes: int = 256 * 1024 * 1024,
        backoff: tuple[float, float] = (0.5, 30.0),
        publish_timeout: float = 10.0,
        events: bool = True,
        breaches: bool = True,
        calls: bool = False,
        reveal_numbers: bool = False,
        published: PublishedLog | None = None,
        probe_callers: Collection[str] = (),
    ) -> None:
        self.broker: BrokerURL = parse_url(url)
        self.site = site
        self.builder = PayloadBuilder(
            site,
            events=events,
            breaches=breaches,
            calls=calls,
            reveal_numbers=reveal_numbers,
            probe_callers=probe_callers,
        )
        self.topics = self.builder.topics
        self.identifier = identifier or f"callwatch-{site.name}-{socket.gethostname()}"
        self.max_inflight = max(1, max_inflight)
        self.keepalive = keepalive
        self.memory_limit = memory_limit
        self.batch_size = batch_size
        self.backoff = backoff
        self.publish_timeout = publish_timeout
        self.stats = PublisherStats()
        self.spool = DurableQueue(spool_dir, max_bytes=spool_max_bytes, segment_bytes=4 << 20)
        self._memory: deque[Message] = deque()
        self._batch: list[Message | None] = []  # read from the spool, in flight
        self._done: list[bool] = []
        self._inflight: dict[int, Message] = {}  # taken from memory, in flight, by sequence
        self._seq = 0
        self._connected = False
        self._closing = False
        self._wake = asyncio.Event()
        self._closed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._full_logged = False
        self.published = published
        self.replay_through = 0
        """Breaches with a ``mark`` up to this that ``published`` holds are not sent again."""
        self.replayed_skipped = 0

    # -- life cycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Start the background connection task (returns at once; connecting is async)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"mqtt-{self.identifier}")

    async def stop(self, drain_timeout: float = 5.0) -> None:
        """Send what is waiting (up to ``drain_timeout`` s), publish the offline status, close.

        What could not be sent stays in the spool for the next publisher on ``spool_dir``.
        """
        self._closing = True
        self._closed.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            done, _ = await asyncio.wait({task}, timeout=drain_timeout)
            if not done:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._connection_lost()
        self.spool.close()
        if self.published is not None:
            self.published.close()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def connected(self) -> bool:
        """True while a broker connection is up."""
        return self._connected

    @property
    def pending(self) -> int:
        """Messages not yet acknowledged by the broker (memory, in flight and spool)."""
        return len(self._memory) + len(self._inflight) + self.spool.depth

    @property
    def spool_depth(self) -> int:
        return self.spool.depth

    async def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until nothing is pending; False if ``timeout`` passed first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.pending:
            if deadline is not None and time.monotonic() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- intake -----------------------------------------------------------------------------

    def submit(self, outputs: Iterable[Output], *, mark: int = 0) -> None:
        """Queue the bus messages of ``outputs`` (of journal record ``mark``); never blocks,
        never raises."""
        try:
            messages = list(self.builder.build(outputs))
        except Exception:  # a payload bug must not stop the capture
            self.stats.build_errors += 1
            log.exception("could not build bus messages; those outputs are not published")
            return
        if mark and mark <= self.replay_through and self.published is not None:
            kept = [m for m in messages if m.kind != "breach" or m.id not in self.published]
            self.replayed_skipped += len(messages) - len(kept)
            messages = kept
        self.submit_messages(messages, mark=mark)

    def submit_messages(self, messages: list[Message], *, mark: int = 0) -> None:
        """Queue ready-made messages (for tests and tools); never blocks, never raises."""
        if not messages:
            return
        now = time.time()
        messages = [_stamped(m, now, mark) for m in messages]
        self.stats.submitted += len(messages)
        if (
            self._connected
            and not self.spool.depth
            and len(self._memory) + len(messages) <= self.memory_limit
        ):
            self._memory.extend(messages)
        else:
            self._to_spool([*self._memory, *messages])
            self._memory.clear()
        self._wake.set()

    def _to_spool(self, messages: list[Message], *, front: bool = False) -> None:
        if not messages:
            return
        records = [message_record(m) for m in messages]
        try:
            if front:
                self.spool.prepend(records)
            else:
                self.spool.append(records)
        except QueueFull as exc:
            self.stats.dropped += len(messages)
            if not self._full_logged:
                log.error("MQTT spool full, dropping messages until it drains: %s", exc)
                self._full_logged = True
            return
        except QueueError as exc:
            self.stats.dropped += len(messages)
            log.error("MQTT spool failed, %d messages dropped: %s", len(messages), exc)
            return
        self._full_logged = False
        self.stats.spooled += len(messages)
        self._taken(messages)

    def _taken(self, messages: Iterable[Message]) -> None:
        published = self.published
        if published is not None:
            for m in messages:
                if m.kind == "breach":
                    published.add(m.mark, m.id)

    def volatile_mark(self) -> int | None:
        """The journal mark of the oldest message held only in memory (None: none is)."""
        marks = []
        if self._memory:
            marks.append(self._memory[0].mark)
        if self._inflight:
            marks.append(next(iter(self._inflight.values())).mark)
        return min(marks) if marks else None

    def _connection_lost(self) -> None:
        """Keep everything unacknowledged: the batch in flight first, then memory."""
        self._connected = False
        self.stats.connected = False
        self.spool.ack(_prefix_done(self._done))  # the rest of a spool batch stays in front
        self._to_spool(list(self._inflight.values()), front=True)  # older than the spool
        self._batch, self._done, self._inflight = [], [], {}
        self._to_spool(list(self._memory))
        self._memory.clear()

    # -- connection -------------------------------------------------------------------------

    def _client(self) -> aiomqtt.Client:
        will = aiomqtt.Will(
            self.topics.status,
            dumps({"state": "offline", "site": self.site.name, "identifier": self.identifier}),
            qos=1,
            retain=True,
        )
        return aiomqtt.Client(
            self.broker.host,
            self.broker.port,
            username=self.broker.username,
            password=self.broker.password,
            identifier=self.identifier,
            clean_session=False,
            keepalive=self.keepalive,
            will=will,
            timeout=self.publish_timeout,
            tls_context=self.broker.tls_context(),
            max_inflight_messages=self.max_inflight,
            max_concurrent_outgoing_calls=self.max_inflight + 1,
            logger=log,
        )

    async def _run(self) -> None:
        low, high = self.backoff
        delay = low
        while not self._closing:
            try:
                async with self._client() as client:
                    self._connected = True
                    self.stats.connected = True
                    self.stats.connects += 1
                    delay = low
                    log.info("MQTT connected to %s as %s", self.broker, self.identifier)
                    await self._session(client)
            except* aiomqtt.MqttError as group:
                log.warning("MQTT %s: %s", self.broker, _first(group))
            except* Exception as group:  # keep publishing whatever went wrong
                log.error("MQTT publisher error: %r", _first(group), exc_info=group)
            finally:
                self._connection_lost()
            if self._closing:
                break
            self.stats.reconnects += 1
            pause = random.uniform(low, delay)
            delay = min(delay * 2, high)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closed.wait(), pause)

    async def _session(self, client: aiomqtt.Client) -> None:
        online = {
            "state": "online",
            "site": self.site.name,
            "identifier": self.identifier,
            "version": __version__,
            "since": iso(int(time.time() * 1_000_000)),
        }
        await client.publish(self.topics.status, dumps(online).encode(), qos=1, retain=True)
        self.stats.published["status"] += 1
        async with asyncio.TaskGroup() as group:
            watch = group.create_task(_watch(client))
            await self._send(client)
            watch.cancel()
        stopped = {"state": "offline", "site": self.site.name, "identifier": self.identifier}
        await client.publish(
            self.topics.status, dumps({**stopped, "reason": "stopped"}).encode(), qos=1, retain=True
        )
        self.stats.published["status"] += 1

    async def _send(self, client: aiomqtt.Client) -> None:
        """Send until closing with nothing left; raises MqttError when the link breaks.

        Messages from memory go out one by one as the in-flight window allows (low latency);
        a spool backlog goes out in batches, acknowledged in the spool once all are PUBACKed.
        """
        window = asyncio.Semaphore(self.max_inflight)
        async with asyncio.TaskGroup() as group:
            while True:
                if self.spool.depth:
                    await self._send_spool_batch(client, window)
                elif self._memory:
                    await window.acquire()
                    if not self._memory:  # spilled to the spool meanwhile
                        window.release()
                        continue
                    message = self._memory.popleft()
                    self._seq += 1
                    self._inflight[self._seq] = message
                    group.create_task(self._publish_live(client, self._seq, message, window))
                elif self._closing:
                    return  # the task group waits for what is in flight
                else:
                    self._wake.clear()
                    await self._wake.wait()

    async def _send_spool_batch(self, client: aiomqtt.Client, window: asyncio.Semaphore) -> None:
        self._batch = [message_from_record(r) for r in self.spool.peek(self.batch_size)]
        self._done = [m is None for m in self._batch]
        unreadable = self._done.count(True)
        if unreadable:
            self.stats.dropped += unreadable
            log.error("MQTT spool: %d records that are not messages dropped", unreadable)
        async with asyncio.TaskGroup() as group:
            for index, message in enumerate(self._batch):
                if message is None:
                    continue
                await window.acquire()
                group.create_task(self._publish_spooled(client, index, message, window))
        self.spool.ack(len(self._batch))
        self._batch, self._done = [], []

    async def _publish_live(
        self, client: aiomqtt.Client, seq: int, message: Message, window: asyncio.Semaphore
    ) -> None:
        await self._publish(client, message, window)
        self._taken((message,))
        self._inflight.pop(seq, None)

    async def _publish_spooled(
        self, client: aiomqtt.Client, index: int, message: Message, window: asyncio.Semaphore
    ) -> None:
        await self._publish(client, message, window)
        self._done[index] = True

    async def _publish(
        self, client: aiomqtt.Client, message: Message, window: asyncio.Semaphore
    ) -> None:
        try:
            await client.publish(
                message.topic, message.payload.encode(), qos=message.qos, retain=message.retain
            )
        finally:
            window.release()
        self.stats.published[message.kind] += 1
        if message.queued_at:
            self.stats.observe(max(0.0, time.time() - message.queued_at))


async def _watch(client: aiomqtt.Client) -> None:
    """Return never; raise MqttError as soon as the connection is lost."""
    async for _message in client.messages:
        pass  # the publisher subscribes to nothing


def _first(group: BaseExceptionGroup) -> BaseException:
    exc: BaseException = group
    while isinstance(exc, BaseExceptionGroup):
        exc = exc.exceptions[0]
    return exc


def _prefix_done(done: list[bool]) -> int:
    count = 0
    for ok in done:
        if not ok:
            break
        count += 1
    return count


def _stamped(message: Message, now: float, mark: int = 0) -> Message:
    if message.queued_at:
        return message
    return Message(
        message.kind,
        message.topic,
        message.payload,
        message.id,
        message.qos,
        message.retain,
        now,
        mark,
    )


def message_record(message: Message) -> bytes:
    """A message as one record of the spool (JSON)."""
    record = {
        "k": message.kind,
        "t": message.topic,
        "i": message.id,
        "q": message.qos,
        "r": message.retain,
        "p": message.payload,
        "s": message.queued_at,
    }
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode()


def message_from_record(record: bytes) -> Message | None:
    """The message of :func:`message_record`; None for a record that is not one."""
    try:
        fields = json.loads(record)
        if fields["k"] not in KINDS:
            return None
        return Message(
            fields["k"],
            str(fields["t"]),
            str(fields["p"]),
            str(fields["i"]),
            int(fields["q"]),
            bool(fields.get("r", False)),
            float(fields.get("s", 0.0)),
        )
    except (ValueError, KeyError, TypeError):
        return None


def broker_settings(url: str) -> dict[str, Any]:
    """The parsed parts of a broker URL, password hidden (for logs and ``/readyz``)."""
    broker = parse_url(url)
    return {"url": str(broker), "tls": broker.tls}
