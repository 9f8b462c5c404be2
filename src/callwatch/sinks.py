"""Sinks: where the core's outputs go (the store, the broker, the live feed, a test's list).

A sink has the small :class:`Sink` surface: ``submit`` only queues (it never blocks or raises),
a task of its own delivers, ``close`` delivers what is queued before it returns, and ``status``
says whether it is ready (``/readyz``). :class:`BatchSink` is the batching, retrying base.
"""

from __future__ import annotations

import asyncio
import logging
import time
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


class BatchSink(Generic[ItemT]):
    """A sink that queues outputs and delivers them in batches from a task of its own.

    Outputs gather in an open batch; at ``max_batch`` items (or when the delivery task is idle)
    it is sealed by :meth:`seal` and queued in a :class:`~callwatch.backlog.Backlog`.
    Subclasses implement :meth:`deliver`; a failed delivery is retried with backoff (the batch
    is kept, in order), so a sink whose backend spools or retries itself never loses a batch
    here. ``latency`` observes each delivery's duration in seconds.
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

    async def start(self) -> None:
        """Start the delivery task."""
        self._task = asyncio.create_task(self._run(), name=f"callwatch-{self.name}")

    def submit(self, outputs: Sequence[ItemT]) -> None:
        """Queue ``outputs``; the delivery task picks them up."""
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

    def pending(self) -> int:
        """Outputs queued (in memory or in backlog files), not yet delivered."""
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
            self.delivered += n
