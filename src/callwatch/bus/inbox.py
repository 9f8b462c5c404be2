"""What a worker session reads: calls and callbacks into the store, then the acknowledgements.

paho acknowledges an incoming QoS 1 message on receipt by default, and aiomqtt drops messages
still queued when a connection breaks, so a worker that died between the PUBACK and the
commit would lose them. :class:`Inbox` acknowledges by hand, only after the store writer has
written the batch or spooled it on disk; a message not yet acknowledged is delivered again
and the store's idempotent upserts make the repeat harmless. A message that is not a call or
callback record is logged, counted in ``rejected`` and acknowledged (it would otherwise come
back forever).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import aiomqtt

from callwatch.bus.errors import PayloadError
from callwatch.bus.session import Session
from callwatch.bus.topics import Topics
from callwatch.bus.worker_state import Peer, parse_state
from callwatch.pipeline import CallbackNews, JudgedCall
from callwatch.records import RecordError
from callwatch.records.convert import decode_payload
from callwatch.site import SiteConfig
from callwatch.store import StoreWriter
from callwatch.store.errors import SpoolFull

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WorkerStats:
    """What a worker has done (for metrics and tests)."""

    received: int = 0
    stored: int = 0
    rejected: int = 0
    connects: int = 0
    batches: int = 0
    adopted: int = 0  # other workers' sessions drained


def decode_message(payload: bytes, site: SiteConfig) -> JudgedCall | CallbackNews:
    """The judged call or callback news of a ``calls``/``callbacks`` payload (its record,
    :class:`~callwatch.records.schema.CallPayload` or ``CallbackPayload``).

    Raises :class:`PayloadError` for anything else (bad JSON, another kind, a bad record).
    """
    try:
        return decode_payload(payload, site.profiles)
    except RecordError as exc:
        raise PayloadError(str(exc)) from None


class StoreSink:
    """The worker's store writer behind a lock, shared by its own and adopted sessions."""

    def __init__(self, writer: StoreWriter) -> None:
        self.writer = writer
        self.lock = asyncio.Lock()

    async def write(self, items: list[JudgedCall | CallbackNews]) -> None:
        """Write (or spool) ``items``; wait while both database and spool are full."""
        while True:
            try:  # shielded: a cancelled caller must not release the lock mid-write
                await asyncio.shield(self._locked(_write, items))
                return
            except SpoolFull as exc:
                log.error("worker: %s", exc)
                await asyncio.sleep(1.0)

    async def poll(self) -> None:
        await asyncio.shield(self._locked(StoreWriter.poll))

    async def close(self) -> None:
        await asyncio.shield(self._locked(StoreWriter.close))

    async def _locked(self, func: Callable[..., None], *args: object) -> None:
        async with self.lock:
            await asyncio.to_thread(func, self.writer, *args)


def _write(writer: StoreWriter, items: list[JudgedCall | CallbackNews]) -> None:
    writer.add(items)
    writer.flush()


class Inbox:
    """Reads a session's messages in batches: stores calls and callbacks, then acknowledges.

    A message is acknowledged only after the batch it came in has been written or spooled.
    State messages go to ``on_peer``; sync markers end :meth:`sync`.
    """

    def __init__(
        self,
        session: Session,
        site: SiteConfig,
        sink: StoreSink,
        stats: WorkerStats,
        *,
        batch_size: int,
        on_peer: Callable[[Peer], None] | None = None,
    ) -> None:
        self.session = session
        self.site = site
        self.topics = Topics(site.name)
        self.sink = sink
        self.stats = stats
        self.batch_size = batch_size
        self.on_peer = on_peer
        self._markers: dict[bytes, asyncio.Event] = {}

    async def pump(self, until: asyncio.Event, timeout: float | None = None) -> bool:
        """Handle messages until ``until`` is set (True) or ``timeout`` s passed (False)."""
        messages = self.session.client.messages
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        waiter = asyncio.ensure_future(until.wait())
        try:
            while not until.is_set():
                remaining = None if deadline is None else deadline - loop.time()
                if remaining is not None and remaining <= 0:
                    return False
                nxt = asyncio.ensure_future(anext(messages))
                done, _ = await asyncio.wait(
                    {nxt, waiter}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                if nxt not in done:
                    nxt.cancel()
                    with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                        await nxt
                    continue
                batch = [nxt.result()]
                while len(batch) < self.batch_size and len(messages):
                    batch.append(await anext(messages))
                await self._handle(batch)
            return True
        finally:
            waiter.cancel()

    async def sync(self, timeout: float) -> bool:
        """Send a marker to this session and read until it comes back (False: timed out)."""
        token = uuid.uuid4().hex.encode()
        seen = self._markers[token] = asyncio.Event()
        try:
            topic = self.topics.worker_sync(self.session.identifier)
            await self.session.client.publish(topic, token, qos=1)
            return await self.pump(seen, timeout)
        finally:
            self._markers.pop(token, None)

    async def _handle(self, batch: list[aiomqtt.Message]) -> None:
        items: list[JudgedCall | CallbackNews] = []
        markers: list[asyncio.Event] = []
        peers: list[Peer] = []
        for message in batch:
            topic = message.topic.value
            payload = message.payload if isinstance(message.payload, bytes) else b""
            kind, rest = self.topics.parse(topic) or ("", "")
            if kind in ("calls", "callbacks"):
                self.stats.received += 1
                try:
                    items.append(decode_message(payload, self.site))
                except PayloadError as exc:
                    self.stats.rejected += 1
                    log.error("worker: dropping a bad message on %s: %s", topic, exc)
            elif kind == "workers" and rest.endswith("/sync"):
                if (event := self._markers.get(payload)) is not None:
                    markers.append(event)
            elif kind == "workers" and (peer := parse_state(self.topics, topic, payload)):
                peers.append(peer)
        if items:
            await self.sink.write(items)
            self.stats.stored += len(items)
            self.stats.batches += 1
        for message in batch:
            self.session.ack(message)
        for event in markers:
            event.set()
        if self.on_peer is not None:
            for peer in peers:
                self.on_peer(peer)
