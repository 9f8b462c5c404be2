"""The store worker of a scaled-out site: judged calls from MQTT into the database.

``callwatch worker`` runs :func:`run_worker`. Several workers share the load with an MQTT
shared subscription (``$share/<group>/callwatch/<site>/calls/#`` and ``.../callbacks/#``):
the broker hands each message to one member of the group.

At least once, into the store: each worker has a persistent MQTT v5 session (expiry
``session_expiry``) and acknowledges a message only once it is written or spooled (see
:mod:`callwatch.bus.inbox`). Leaving strands nothing (see :mod:`callwatch.bus.handover`): on
stop a worker leaves the group and drains its session when another member is online, else
keeps it; a live worker drains the session of a peer that stopped or was lost;
:func:`adopt_session` does the same for an operator (``callwatch worker --adopt ID``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
from collections.abc import Collection
from pathlib import Path

import aiomqtt

from callwatch.bus.handover import (
    HandoverError,
    Membership,
    drain_session,
    leave,
    retained_state,
)
from callwatch.bus.inbox import Inbox, StoreSink, WorkerStats, decode_message
from callwatch.bus.session import Session, lost_will
from callwatch.bus.topics import Topics
from callwatch.bus.url import parse_url
from callwatch.bus.worker_state import (
    DEFAULT_HANDOVER_AFTER,
    DEFAULT_SESSION_EXPIRY,
    ONLINE,
    state_payload,
)
from callwatch.diskqueue import DurableQueue
from callwatch.site import SiteConfig
from callwatch.store import Store, StoreWriter

__all__ = ["WorkerStats", "adopt_session", "decode_message", "run_worker"]

log = logging.getLogger(__name__)


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
    session_expiry: int = DEFAULT_SESSION_EXPIRY,
    handover_after: int = DEFAULT_HANDOVER_AFTER,
    leave_timeout: float = 60.0,
    stop: asyncio.Event | None = None,
    ready: asyncio.Event | None = None,
    stats: WorkerStats | None = None,
    probe_callers: Collection[str] = (),
) -> WorkerStats:
    """Subscribe to the site's calls and callbacks in ``group`` and store them until ``stop``.

    ``identifier`` names the persistent session (default ``callwatch-worker-<site>-<host>``;
    give each worker its own); the broker keeps it ``session_expiry`` s while the worker is
    away, and peers drain it once it has been gone ``handover_after`` s. ``ready`` is set
    once subscribed; the store's schema is upgraded on start; calls from ``probe_callers``
    (the setting ``probe_user``) are stored tagged ``probe``. Returns the counters (also
    filled in ``stats`` as it runs).
    """
    if handover_after >= session_expiry:
        raise ValueError("handover_after must be shorter than session_expiry")
    broker = parse_url(url)
    topics = Topics(site.name)
    stats = stats if stats is not None else WorkerStats()
    stop = stop if stop is not None else asyncio.Event()
    identifier = identifier or f"callwatch-worker-{site.name}-{socket.gethostname()}"
    store = Store.open(store_url, site=site.name, probe_callers=probe_callers)
    await asyncio.to_thread(store.upgrade)
    sink = StoreSink(
        StoreWriter(
            store,
            DurableQueue(spool_dir, fsync=True),
            profiles=site.profiles,
            batch_size=batch_size,
        )
    )

    async def adopt(peer: str) -> bool:
        found = await drain_session(
            broker,
            site,
            peer,
            group,
            sink,
            stats,
            expiry=session_expiry,
            batch_size=batch_size,
            timeout=leave_timeout,
        )
        stats.adopted += found
        return found

    members = Membership(identifier, group, stop, adopt)
    poller = asyncio.create_task(_poll(sink, stop))
    low, high = backoff
    delay = low
    try:
        while not stop.is_set():
            will = lost_will(topics, identifier, group, handover_after)
            session = Session(
                broker,
                identifier,
                expiry=session_expiry,
                max_inflight=batch_size,
                will=will,
                logger=log,
            )
            try:
                async with session.client as client:
                    stats.connects += 1
                    delay = low
                    await client.subscribe(topics.worker_sync(identifier), qos=1)
                    await client.subscribe(topics.shared(group, "calls"), qos=1)
                    await client.subscribe(topics.shared(group, "callbacks"), qos=1)
                    online = state_payload(ONLINE, identifier, group)
                    await client.publish(topics.worker(identifier), online, qos=1, retain=True)
                    await client.subscribe(topics.workers, qos=1)
                    if ready is not None:
                        ready.set()
                    inbox = Inbox(session, site, sink, stats, batch_size=batch_size)
                    inbox.on_peer = members.seen
                    await inbox.pump(stop)
                    left = await leave(inbox, group, members.others_online, leave_timeout)
                    log.info(
                        "worker %s: %s",
                        identifier,
                        "left the group, session ended"
                        if left
                        else "stopped; its session is kept for a restart or a hand-over",
                    )
            except aiomqtt.MqttError as exc:
                log.warning("worker MQTT %s: %s", broker, exc)
            if stop.is_set():
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), random.uniform(low, delay))
            delay = min(delay * 2, high)
    finally:
        await members.close(leave_timeout)
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        await sink.close()
        store.close()
    return stats


async def adopt_session(
    site: SiteConfig,
    url: str,
    store_url: str,
    identifier: str,
    group: str = "callwatch",
    *,
    spool_dir: str | Path = "callwatch-adopt-spool",
    batch_size: int = 200,
    session_expiry: int = DEFAULT_SESSION_EXPIRY,
    timeout: float = 60.0,
    probe_callers: Collection[str] = (),
) -> WorkerStats | None:
    """Store what waits in the session ``identifier`` of ``group`` and end it.

    For a worker that will not come back. Returns the counters, or None when the broker
    held no such session. Raises :class:`~callwatch.bus.handover.HandoverError` or
    ``aiomqtt.MqttError`` when the session could not be drained (it is then kept), and
    HandoverError before touching it when the worker said it belongs to another group (its
    shared subscriptions would stay and keep taking calls until the session ended).
    """
    broker = parse_url(url)
    peer = await retained_state(broker, site, identifier)
    if peer is not None and peer.group and peer.group != group:
        raise HandoverError(f"worker {identifier} is in group {peer.group!r}, not {group!r}")
    stats = WorkerStats()
    store = Store.open(store_url, site=site.name, probe_callers=probe_callers)
    try:
        await asyncio.to_thread(store.upgrade)
        sink = StoreSink(
            StoreWriter(
                store,
                DurableQueue(spool_dir, fsync=True),
                profiles=site.profiles,
                batch_size=batch_size,
            )
        )
        try:
            found = await drain_session(
                broker,
                site,
                identifier,
                group,
                sink,
                stats,
                expiry=session_expiry,
                batch_size=batch_size,
                timeout=timeout,
            )
        finally:
            await sink.close()
    finally:
        store.close()
    return stats if found else None


async def _poll(sink: StoreSink, stop: asyncio.Event) -> None:
    """Retry the writer's spool now and then while the database is away."""
    while not stop.is_set():
        await asyncio.sleep(0.5)
        await sink.poll()
