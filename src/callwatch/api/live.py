"""The live feed: an in-process broadcaster of events and breaches for ``/api/live`` (SSE).

The running service publishes each batch of pipeline outputs once, through :class:`LiveSink`
(one of its sinks; ``submit`` is the single call per output batch). The broadcaster turns them
into the bus's ``event`` and ``breach`` payloads (:class:`callwatch.bus.payloads.PayloadBuilder`,
numbers revealed: masking is per subscriber) and puts each into the bounded queue of every
subscriber that wants it. A full queue drops the item for that subscriber and counts it
(``dropped``); publishing never waits, so a slow browser never holds up the pipeline.

Each item carries the payload's ``tag`` (null: a staff call; ``probe``: callwatch's own probe
call, see :mod:`callwatch.bus.payloads`). A listener gets the staff's items unless it asks for
the probe calls' (``tags``): probe calls never count against staff.

Everything here runs on the service's event loop: :meth:`Broadcaster.publish` must be called
from the loop thread (as sinks are).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from callwatch.bus.payloads import PayloadBuilder
from callwatch.pipeline import Output
from callwatch.sinks import PartStatus
from callwatch.site import SiteConfig

LiveKind = Literal["event", "breach"]
LIVE_KINDS: tuple[LiveKind, ...] = ("event", "breach")
STAFF: frozenset[str | None] = frozenset([None])
"""The tags a listener gets by default: the staff's calls only (untagged)."""
DEFAULT_QUEUE = 256

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiveItem:
    """One item of the feed: its kind, stable id, department and payload (numbers shown)."""

    kind: LiveKind
    id: str
    department: str | None
    payload: dict[str, Any]
    tag: str | None = None


@dataclass(eq=False)
class Subscription:
    """One listener: what it wants, its bounded queue and how much it lost."""

    departments: frozenset[str] | None
    kinds: frozenset[str]
    queue: asyncio.Queue[LiveItem]
    dropped: int = 0
    _owner: Broadcaster | None = field(default=None, repr=False)
    tags: frozenset[str | None] = STAFF

    def wants(self, item: LiveItem) -> bool:
        """Whether ``item`` is of a kind, tag and department this listener asked for."""
        if item.kind not in self.kinds or item.tag not in self.tags:
            return False
        return self.departments is None or item.department in self.departments

    def close(self) -> None:
        """Stop receiving (idempotent)."""
        if self._owner is not None:
            self._owner._subscribers.discard(self)
            self._owner = None

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Broadcaster:
    """Fans feed items out to subscribers' bounded queues; never blocks the publisher."""

    def __init__(self, site: SiteConfig | None = None, *, queue_size: int = DEFAULT_QUEUE) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.queue_size = queue_size
        self.published = 0
        self.dropped = 0
        self._subscribers: set[Subscription] = set()
        self._builder: Any = None
        if site is not None:
            self._builder = PayloadBuilder(site, reveal_numbers=True)

    @property
    def subscribers(self) -> int:
        """How many listeners are connected."""
        return len(self._subscribers)

    def subscribe(
        self,
        departments: Iterable[str] | None = None,
        kinds: Iterable[str] = LIVE_KINDS,
        tags: Iterable[str | None] = STAFF,
    ) -> Subscription:
        """A new listener for ``kinds`` of ``departments`` (None: every department) of the
        calls ``tags`` names (None: the staff's; ``probe``: callwatch's probe calls)."""
        sub = Subscription(
            None if departments is None else frozenset(departments),
            frozenset(kinds),
            asyncio.Queue(self.queue_size),
            _owner=self,
            tags=frozenset(tags),
        )
        self._subscribers.add(sub)
        return sub

    def publish(self, item: LiveItem) -> int:
        """Offer ``item`` to every listener that wants it; return how many took it."""
        self.published += 1
        taken = 0
        for sub in tuple(self._subscribers):
            if not sub.wants(item):
                continue
            try:
                sub.queue.put_nowait(item)
                taken += 1
            except asyncio.QueueFull:
                sub.dropped += 1
                self.dropped += 1
        return taken

    def publish_outputs(self, outputs: Sequence[Output]) -> int:
        """Publish the events and breaches of a batch of pipeline outputs (nothing is built
        while no one listens); return how many items were published."""
        if not self._subscribers or self._builder is None:
            return 0
        count = 0
        for message in self._builder.build(outputs):
            if message.kind not in LIVE_KINDS:
                continue
            payload = json.loads(message.payload)
            dept, tag = payload.get("department"), payload.get("tag")
            self.publish(LiveItem(message.kind, message.id, dept, payload, tag))
            count += 1
        return count


class LiveSink:
    """The broadcaster as one of the service's sinks (see :class:`callwatch.sinks.Sink`)."""

    name = "live"

    def __init__(self, site: SiteConfig, *, queue_size: int = DEFAULT_QUEUE) -> None:
        self.broadcaster = Broadcaster(site, queue_size=queue_size)

    async def start(self) -> None:
        """Nothing to connect."""

    def submit(self, outputs: Sequence[Output]) -> None:
        """Publish ``outputs`` to the listeners (never blocks, never raises)."""
        try:
            self.broadcaster.publish_outputs(outputs)
        except Exception:  # a feed bug must never stop the pipeline or the other sinks
            log.exception("live feed: publishing failed")

    async def close(self) -> None:
        """Nothing to drain: the feed keeps no backlog."""

    def status(self) -> Any:
        """Always ready; listeners and dropped items in the details."""

        b = self.broadcaster
        return PartStatus(
            True,
            f"{b.subscribers} listening",
            extra={"published": b.published, "dropped": b.dropped},
        )
