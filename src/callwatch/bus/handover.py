"""Worker sessions that leave or die without stranding what the broker routed to them.

Mosquitto 2.0 keeps routing a shared subscription's share to a member whose persistent
session is offline: the messages wait in that session until the same client id connects
again, and the session holds at most ``max_queued_messages`` (1,000 by default; more are
dropped). A worker that stops for good, or dies, would strand its share. Three things prevent
that, all built on MQTT v5 sessions with a bounded expiry:

- **State.** Each worker publishes a retained state on ``callwatch/<site>/workers/<id>``:
  ``online`` once subscribed, ``leaving`` while it stops, ``stopped`` if it stopped with its
  session kept; a will with a delay (``handover_after``) says ``lost`` when it vanished and
  did not come back within that delay. Leaving for good clears the state (empty payload).
- **Sync.** A session sends a unique marker to its own ``.../workers/<id>/sync`` topic and
  reads until the marker comes back. Mosquitto delivers a session's messages in the order it
  queued them, so everything routed to the session before the marker has then been read,
  stored and acknowledged.
- **Drain.** Unsubscribe the shared subscriptions (the broker stops routing to the session),
  sync, then disconnect with session expiry 0 (the session ends). :func:`drain_session` does
  this for another worker's session (``callwatch worker --adopt ID``, or a live worker on
  seeing a peer ``stopped`` or ``lost``); :func:`leave` for the worker's own on SIGTERM.

A stopping worker leaves the group only if another member is ``online`` after it has
announced ``leaving`` and synced: of two workers stopping together at least one sees the
other leaving and keeps its session (``stopped``), so the group never has no subscription
and nothing published meanwhile is dropped; the next worker to start drains that session.
Two live workers adopting the same session take it over from each other; the one pushed off
gives up, and what it had read but not acknowledged is delivered again to the other (the
store's upserts absorb the repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import Awaitable, Callable

import aiomqtt

from callwatch.bus.errors import BusError
from callwatch.bus.inbox import Inbox, StoreSink, WorkerStats
from callwatch.bus.session import Session
from callwatch.bus.topics import Topics
from callwatch.bus.url import BrokerURL
from callwatch.bus.worker_state import (
    DEFAULT_SESSION_EXPIRY,
    GONE,
    HANDOVER_STATES,
    LEAVING,
    ONLINE,
    STOPPED,
    Peer,
    parse_state,
    state_payload,
)
from callwatch.site import SiteConfig

log = logging.getLogger(__name__)


class HandoverError(BusError):
    """A session could not be drained (it is kept; nothing in it is lost)."""


# -- leaving and adopting ------------------------------------------------------------------


async def leave(
    inbox: Inbox, group: str, others_online: Callable[[], bool], timeout: float
) -> bool:
    """Stop a worker's own session: True if it left the group and ended its session.

    Announces ``leaving``, syncs, and if another member of ``group`` is still online,
    unsubscribes, syncs again and ends the session. Otherwise (the last member, or a sync
    that timed out) it marks itself ``stopped`` and keeps the session for a restart or a
    hand-over; the caller then disconnects normally.
    """
    session, topics = inbox.session, inbox.topics
    me = session.identifier

    async def announce(state: str) -> None:
        await session.client.publish(
            topics.worker(me), state_payload(state, me, group), qos=1, retain=True
        )

    await announce(LEAVING)
    if await inbox.sync(timeout) and others_online():
        await session.client.unsubscribe(
            [topics.shared(group, "calls"), topics.shared(group, "callbacks")]
        )
        if await inbox.sync(timeout):
            await announce(GONE)
            await session.end()
            return True
    await announce(STOPPED)
    return False


async def drain_session(
    broker: BrokerURL,
    site: SiteConfig,
    identifier: str,
    group: str,
    sink: StoreSink,
    stats: WorkerStats,
    *,
    expiry: int = DEFAULT_SESSION_EXPIRY,
    batch_size: int = 200,
    timeout: float = 60.0,
) -> bool:
    """Take over the session ``identifier`` of ``group``: store what waits in it, end it.

    Returns False if there was no such session. Raises :class:`HandoverError` if it could
    not be drained within ``timeout`` s, and ``aiomqtt.MqttError`` if the connection broke
    (for instance when the worker itself came back and took its session over); the session
    is then kept, with what still waits in it.
    """
    topics = Topics(site.name)
    session = Session(broker, identifier, expiry=expiry, max_inflight=batch_size)
    async with session.client as client:
        if session.present:
            await client.subscribe(topics.worker_sync(identifier), qos=1)
            await client.unsubscribe(
                [topics.shared(group, "calls"), topics.shared(group, "callbacks"), topics.workers]
            )
            inbox = Inbox(session, site, sink, stats, batch_size=batch_size)
            if not await inbox.sync(timeout):
                raise HandoverError(f"session {identifier} not drained within {timeout:g} s")
        await client.publish(topics.worker(identifier), b"", qos=1, retain=True)
        await session.end()
    return bool(session.present)


class Membership:
    """What a live worker knows of its peers, and the hand-overs it runs for them."""

    def __init__(
        self,
        identifier: str,
        group: str,
        stop: asyncio.Event,
        adopt: Callable[[str], Awaitable[bool]],
    ) -> None:
        self.identifier = identifier
        self.group = group
        self.stop = stop
        self.adopt = adopt
        self.peers: dict[str, Peer] = {}
        self.tasks: dict[str, asyncio.Task[None]] = {}

    def seen(self, peer: Peer) -> None:
        """Note a peer's state; start draining its session if it stopped or was lost."""
        if peer.identifier == self.identifier:
            return
        if peer.state == GONE:
            self.peers.pop(peer.identifier, None)
            return
        self.peers[peer.identifier] = peer
        if (
            peer.group == self.group
            and peer.state in HANDOVER_STATES
            and not self.stop.is_set()
            and peer.identifier not in self.tasks
        ):
            task = asyncio.create_task(self._adopt(peer.identifier))
            self.tasks[peer.identifier] = task

    def others_online(self) -> bool:
        """True if another member of the group said it is online (and has not left since)."""
        return any(p.state == ONLINE and p.group == self.group for p in self.peers.values())

    async def _adopt(self, identifier: str) -> None:
        try:
            await asyncio.sleep(random.uniform(0.0, 1.0))  # several survivors: spread them
            peer = self.peers.get(identifier)
            if self.stop.is_set() or peer is None or peer.state not in HANDOVER_STATES:
                return
            if await self.adopt(identifier):
                log.info("worker %s: drained the session of %s", self.identifier, identifier)
        except (aiomqtt.MqttError, HandoverError) as exc:
            log.warning("worker %s: hand-over of %s stopped: %s", self.identifier, identifier, exc)
        finally:
            self.tasks.pop(identifier, None)

    async def close(self, timeout: float) -> None:
        """Let running hand-overs finish (up to ``timeout`` s), then cancel them."""
        tasks = list(self.tasks.values())
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)


async def retained_state(broker: BrokerURL, site: SiteConfig, identifier: str) -> Peer | None:
    """The state the worker ``identifier`` last published (None: none is retained)."""
    topics = Topics(site.name)
    client = aiomqtt.Client(
        broker.host,
        broker.port,
        username=broker.username,
        password=broker.password,
        protocol=aiomqtt.ProtocolVersion.V5,
        tls_context=broker.tls_context(),
        logger=log,
    )
    async with client:
        await client.subscribe(topics.worker(identifier), qos=1)
        sync = f"{topics.worker_sync(identifier)}/{uuid.uuid4().hex}"
        await client.subscribe(sync, qos=1)
        await client.publish(sync, b"", qos=1)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(10):
                async for message in client.messages:  # a retained state comes before the marker
                    if message.topic.matches(sync):
                        break
                    payload = message.payload if isinstance(message.payload, bytes) else b""
                    peer = parse_state(topics, message.topic.value, payload)
                    if peer is not None and peer.state != GONE:
                        return peer
    return None
