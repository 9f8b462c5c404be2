"""Sinks: where the core's outputs go (the store, the broker, the live feed, a test's list).

A sink has the small :class:`Sink` surface: ``submit`` only queues (it never blocks or raises),
a task of its own delivers, ``close`` delivers what is queued before it returns, and ``status``
says whether it is ready (``/readyz``). :class:`BatchSink` is the batching, retrying base.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

from callwatch.backlog import Backlog
from callwatch.pipeline import Output

log = logging.getLogger(__name__)

ItemT = TypeVar("ItemT")
"""What a :class:`BatchSink` queues: outputs, and for the store raw packets too."""


@dataclass(slots=True)
class PartStatus:
    """One part's readiness for ``/readyz``."""

    ready: bool
    detail: str = ""
    spool_depth: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """The JSON shape reported by ``/readyz``."""
        out: dict[str, object] = {"ready": self.ready, "detail": self.detail}
        if self.spool_depth:
            out["spool_depth"] = self.spool_depth
        out.update(self.extra)
        return out


class Sink(Protocol):
    """Where the core's output goes: the store, the broker, a test's list."""

    name: str

    async def start(self) -> None:
        """Connect (or begin trying to); raise :class:`ServiceError` when it never can."""

    def submit(self, outputs: Sequence[Output]) -> None:
        """Queue outputs for delivery; never blocks, never raises."""

    async def close(self) -> None:
        """Deliver (or spool) everything queued, then stop."""

    def status(self) -> PartStatus:
        """Ready, or why not, and how much waits in the spool."""


class DurableSink(Sink, Protocol):
    """A sink that says how far the service's packet journal may be forgotten.

    The service sets ``position`` to the journal position of the record (packet or tick)
    whose outputs it submits next; the sink answers :meth:`durable_through`.
    """

    position: int

    def durable_through(self, latest: int) -> int:
        """The newest journal position whose outputs this sink has all taken durably (on
        disk or delivered); ``latest`` when it holds nothing only in memory."""

    def checkpointed(self, position: int) -> None:
        """The service will never hand outputs of records up to ``position`` again."""

    def replaying(self, through: int) -> None:
        """Outputs of records up to ``through`` come from a replay of the journal."""


class BatchSink(Generic[ItemT]):
    """A sink that queues outputs and delivers them in batches from a task of its own.

    Outputs gather in an open batch; at ``max_batch`` items (or when the delivery task is idle)
    it is sealed by :meth:`seal` and queued in a :class:`~callwatch.backlog.Backlog`.
    Subclasses implement :meth:`deliver`; a failed delivery is retried with backoff (the batch
    is kept, in order), so a sink whose backend spools or retries itself never loses a batch
    here. ``latency`` observes each delivery's duration in seconds.

    It is a :class:`DurableSink`: an output counts as durably taken once :meth:`deliver`
    returned for its batch (a batch waiting in the backlog's queue on disk counts as not yet).
    """

    name = "sink"
    max_batch = 500

    def __init__(
        self,
        latency: Callable[[float], None] | None = None,
        backlog: Backlog | None = None,
    ) -> None:
        self._open: list[ItemT] = []
        self._backlog = backlog if backlog is not None else Backlog(None)
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._latency = latency
        self.delivered = 0
        self.failures = 0
        self.last_error = ""
        self.position = 0
        self._open_first = 0  # journal position of the oldest output in the open batch
        # journal position of the oldest output of each batch in the backlog, oldest first;
        # batches an earlier run left in the backlog's queue count as position 0
        self._firsts: deque[int] = deque([0] * self._backlog.batches)

    async def start(self) -> None:
        """Start the delivery task."""
        self._task = asyncio.create_task(self._run(), name=f"callwatch-{self.name}")

    def submit(self, outputs: Sequence[ItemT]) -> None:
        """Queue ``outputs``; the delivery task picks them up."""
        if not self._open:
            self._open_first = self.position
        self._open.extend(outputs)
        if len(self._open) >= self.max_batch:
            self._seal()
        self._wake.set()

    def seal(self, batch: list[ItemT]) -> Any:
        """What a batch waits as until :meth:`deliver` gets it: the list itself by default;
        ``bytes`` go to the backlog, which keeps them compact and can spill them to disk."""
        return batch

    async def deliver(self, batch: Any) -> None:
        """Deliver one sealed batch; raise to have it retried."""
        raise NotImplementedError

    def durable_through(self, latest: int) -> int:
        """See :class:`DurableSink`."""
        oldest = self._firsts[0] if self._firsts else None
        if self._open and (oldest is None or self._open_first < oldest):
            oldest = self._open_first
        return latest if oldest is None else oldest - 1

    def checkpointed(self, position: int) -> None:
        """See :class:`DurableSink` (nothing to forget here)."""

    def replaying(self, through: int) -> None:
        """See :class:`DurableSink` (the backend's upserts absorb what it had)."""

    def pending(self) -> int:
        """Outputs queued (in memory or in the backlog's queue on disk), not yet delivered."""
        return len(self._open) + self._backlog.items

    def status(self) -> PartStatus:
        """Ready unless the last delivery failed."""
        ready = not self.last_error
        detail = "ok" if ready else f"retrying: {self.last_error}"
        return PartStatus(ready, detail, extra={"queued": self.pending()})

    async def close(self) -> None:
        """Deliver what is queued, then stop the task."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            await self._task
        await self.shutdown()

    async def shutdown(self) -> None:
        """Release the backend once everything is delivered (subclasses)."""

    def _seal(self) -> None:
        while self._open:
            batch = self._open[: self.max_batch]
            del self._open[: len(batch)]
            self._backlog.push(len(batch), self.seal(batch))
            self._firsts.append(self._open_first)

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            head = self._backlog.peek()
            if head is None:
                if self._open:
                    self._seal()
                    continue
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            n, batch = head
            started = time.perf_counter()
            try:
                await self.deliver(batch)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failures += 1
                if not self.last_error:
                    log.warning("%s: delivery failed, retrying: %s", self.name, exc)
                self.last_error = f"{type(exc).__name__}: {exc}"
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            if self._latency is not None:
                self._latency(time.perf_counter() - started)
            if self.last_error:
                log.warning("%s: delivering again", self.name)
            self.last_error = ""
            backoff = 0.1
            self._backlog.pop()
            if self._firsts:
                self._firsts.popleft()
            self.delivered += n
