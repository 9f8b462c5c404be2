"""The store worker of a scaled-out site: judged calls from MQTT into the database.

``callwatch worker`` runs :func:`run_worker`. Several workers share the load with an MQTT
shared subscription (``$share/<group>/callwatch/<site>/calls/#`` and ``.../callbacks/#``):
the broker hands each message to one member of the group.

At least once, into the store: paho acknowledges an incoming QoS 1 message on receipt by
default, and aiomqtt drops messages still queued when a connection breaks, so a worker that
dies between the PUBACK and the commit would lose them. The worker therefore acknowledges by
hand (paho's ``manual_ack``), only after the :class:`~callwatch.store.StoreWriter` has
written the batch or spooled it on disk. A message not yet acknowledged is delivered again
(persistent session, ``clean_session`` False), and the store's idempotent upserts make the
repeat harmless. A message that is not a call or callback record is logged, counted in
``rejected`` and acknowledged (it would otherwise come back forever).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import socket
from dataclasses import dataclass
from pathlib import Path

import aiomqtt

from callwatch.bus.errors import PayloadError
from callwatch.bus.topics import Topics
from callwatch.bus.url import parse_url
from callwatch.pipeline import CallbackNews, JudgedCall
from callwatch.site import SiteConfig
from callwatch.store import Spool, Store, StoreWriter
from callwatch.store.codec import decode_output
from callwatch.store.errors import CodecError, SpoolFull

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WorkerStats:
    """What a worker has done (for metrics and tests)."""

    received: int = 0
    stored: int = 0
    rejected: int = 0
    connects: int = 0
    batches: int = 0


def decode_message(payload: bytes, site: SiteConfig) -> JudgedCall | CallbackNews:
    """The judged call or callback news of a ``calls``/``callbacks`` payload.

    Raises :class:`PayloadError` for anything else (bad JSON, another kind, a bad record).
    """
    try:
        record = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    if not isinstance(record, dict) or record.get("type") not in ("call", "callback"):
        raise PayloadError("not a call or callback record")
    try:
        item = decode_output(record, site.profiles)
    except CodecError as exc:
        raise PayloadError(str(exc)) from None
    assert isinstance(item, JudgedCall | CallbackNews)
    return item


async def run_worker(
    site: SiteConfig,
    url: str,
    store_url: str,
    group: str = "callwatch",
    *,
    spool_dir: str | Path = "callwatch-worker-spool",
    identifier: str | None = None,
    batch_size: int = 200,
    backoff: tuple[float, float] = (0.5, 30.0),
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    stats: WorkerStats | None = None,
) -> WorkerStats:
    """Subscribe to the site's calls and callbacks in ``group`` and store them until ``stop``.

    ``identifier`` names the persistent session (default ``callwatch-worker-<site>-<host>``;
    give each worker its own). ``ready`` is set once subscribed; the store's schema is
    upgraded on start. Returns the counters (also filled in ``stats`` as it runs).
    """
    broker = parse_url(url)
    topics = Topics(site.name)
    stats = stats if stats is not None else WorkerStats()
    stop = stop if stop is not None else asyncio.Event()
    identifier = identifier or f"callwatch-worker-{site.name}-{socket.gethostname()}"
    store = Store.open(store_url, site=site.name)
    await asyncio.to_thread(store.upgrade)
    writer = StoreWriter(store, Spool(spool_dir), profiles=site.profiles, batch_size=batch_size)
    lock = asyncio.Lock()
    poller = asyncio.create_task(_poll(writer, lock, stop))
    low, high = backoff
    delay = low
    try:
        while not stop.is_set():
            client = aiomqtt.Client(
                broker.host,
                broker.port,
                username=broker.username,
                password=broker.password,
                identifier=identifier,
                clean_session=False,
                tls_context=broker.tls_context(),
                max_inflight_messages=batch_size,
                logger=log,
            )
            client._client.manual_ack_set(True)  # aiomqtt has no switch for it; paho does
            try:
                async with client:
                    stats.connects += 1
                    delay = low
                    await client.subscribe(topics.shared(group, "calls"), qos=1)
                    await client.subscribe(topics.shared(group, "callbacks"), qos=1)
                    if ready is not None:
                        ready.set()
                    await _consume(client, site, writer, lock, stop, stats, batch_size)
            except aiomqtt.MqttError as exc:
                log.warning("worker MQTT %s: %s", broker, exc)
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), random.uniform(low, delay))
            delay = min(delay * 2, high)
    finally:
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        async with lock:
            await asyncio.to_thread(writer.close)
        store.close()
    return stats


async def _consume(
    client: aiomqtt.Client,
    site: SiteConfig,
    writer: StoreWriter,
    lock: asyncio.Lock,
    stop: asyncio.Event,
    stats: WorkerStats,
    batch_size: int,
) -> None:
    messages = client.messages
    stopping = asyncio.create_task(stop.wait())
    try:
        while not stop.is_set():
            nxt = asyncio.ensure_future(anext(messages))
            done, _ = await asyncio.wait({nxt, stopping}, return_when=asyncio.FIRST_COMPLETED)
            if nxt not in done:
                nxt.cancel()
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await nxt
                return
            batch = [nxt.result()]
            while len(batch) < batch_size and len(messages):
                batch.append(await anext(messages))
            await _store_batch(client, site, writer, lock, stats, batch)
    finally:
        stopping.cancel()


async def _store_batch(
    client: aiomqtt.Client,
    site: SiteConfig,
    writer: StoreWriter,
    lock: asyncio.Lock,
    stats: WorkerStats,
    batch: list[aiomqtt.Message],
) -> None:
    items: list[JudgedCall | CallbackNews] = []
    for message in batch:
        stats.received += 1
        try:
            items.append(decode_message(message.payload, site))
        except PayloadError as exc:
            stats.rejected += 1
            log.error("worker: dropping a bad message on %s: %s", message.topic, exc)
    while True:
        try:
            async with lock:
                await asyncio.to_thread(_write, writer, items)
            break
        except SpoolFull as exc:  # database and spool both full: hold the acks and wait
            log.error("worker: %s", exc)
            await asyncio.sleep(1.0)
    stats.stored += len(items)
    stats.batches += 1
    for message in batch:
        client._client.ack(message.mid, message.qos)


def _write(writer: StoreWriter, items: list[JudgedCall | CallbackNews]) -> None:
    writer.add(items)
    writer.flush()


async def _poll(writer: StoreWriter, lock: asyncio.Lock, stop: asyncio.Event) -> None:
    """Retry the writer's spool now and then while the database is away."""
    while not stop.is_set():
        await asyncio.sleep(0.5)
        async with lock:
            await asyncio.to_thread(writer.poll)
