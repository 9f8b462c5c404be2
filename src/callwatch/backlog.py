"""Sealed batches waiting for a sink, oldest first: in memory up to a byte limit, then in the
durable queue.

Why: the store process runs at idle CPU priority, so in a burst it falls behind by minutes,
and what waits for it must neither stall capture nor grow memory without bound. A sealed
batch is one ``bytes`` object (its items already pickled), which the garbage collector never
scans; past ``memory_limit`` bytes, new batches go to a
:class:`~callwatch.diskqueue.DurableQueue` in ``directory`` (page cache, no fsync: like the
packet journal, they survive the process) and are read back in order when the sink catches
up. Batches an earlier run left there (the service was killed while a backlog waited) are
delivered first on the next start.

Order: a batch waits in memory only while the queue is empty, so memory holds the oldest.
Nothing is dropped: when the queue refuses a batch (disk full, or its ``max_bytes``), it
waits in memory behind the queue, and so does every newer batch until the queue is drained;
the refusal is logged once and counted.

Each queued record carries the item count and the callwatch version that pickled it; a record
of another version may not unpickle here, so it is moved to ``directory/stale/`` untouched,
logged and counted, for an admin to replay or remove.
"""

from __future__ import annotations

import logging
import struct
from collections import deque
from pathlib import Path
from typing import Any

from callwatch import __version__
from callwatch.diskqueue import DurableQueue, QueueError

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<I16s")  # item count, callwatch version (padded)
_VERSION = __version__.encode()[:16].ljust(16, b"\0")


class Backlog:
    """A FIFO of ``(count, payload)`` batches of ``count`` items each.

    Without a ``directory`` every batch waits in memory (any payload). With one, payloads are
    ``bytes`` and count against ``memory_limit``."""

    def __init__(
        self, directory: Path | None, memory_limit: int = 64 << 20, max_bytes: int = 8 << 30
    ) -> None:
        self.directory = directory
        self.memory_limit = memory_limit
        self.items = 0
        """Items in every batch waiting, in memory and on disk."""
        self.memory_bytes = 0
        self.stale = 0
        """Records of another version found at start (moved aside when their turn comes)."""
        self.refused = 0
        """Batches the queue refused (kept in memory)."""
        self._memory: deque[tuple[int, Any]] = deque()  # older than every queued batch
        self._after: deque[tuple[int, Any]] = deque()  # newer than every queued batch
        self._head: tuple[int, bytes] | None = None  # the oldest queued batch, read once
        self._stale_waiting = 0
        self.queue = None if directory is None else DurableQueue(directory, max_bytes=max_bytes)
        if self.queue is not None and self.queue.depth:
            self._adopt(self.queue)

    @property
    def batches(self) -> int:
        """Batches waiting, in memory and on disk."""
        return len(self._memory) + self.on_disk + len(self._after)

    @property
    def on_disk(self) -> int:
        """Batches waiting in the queue."""
        return 0 if self.queue is None else self.queue.depth - self._stale_waiting

    def push(self, count: int, payload: Any) -> None:
        """Add a batch of ``count`` items behind every other."""
        self.items += count
        size = len(payload) if isinstance(payload, bytes) else 0
        queue = self.queue
        if queue is None or (not queue.depth and self.memory_bytes + size <= self.memory_limit):
            self._memory.append((count, payload))
        elif self._after:
            self._after.append((count, payload))
        else:
            try:
                queue.append([_HEADER.pack(count, _VERSION) + payload])
                return
            except QueueError as exc:
                if not self.refused:
                    log.error("backlog: %s; keeping batches in memory", exc)
                self.refused += 1
                (self._after if queue.depth else self._memory).append((count, payload))
        self.memory_bytes += size

    def peek(self) -> tuple[int, Any] | None:
        """The oldest batch, without removing it (None when empty)."""
        if self._memory:
            return self._memory[0]
        queue = self.queue
        while self._head is None and queue is not None and queue.depth:
            record = queue.peek(1)[0]
            count, version = _HEADER.unpack_from(record)
            if version == _VERSION:
                self._head = (count, record[_HEADER.size :])
            else:
                self._set_aside(record)
                queue.ack(1)
                self._stale_waiting -= 1
                self._drained()
        return self._head or (self._after[0] if self._after else None)

    def pop(self) -> None:
        """Remove the oldest batch (once it was delivered)."""
        if not self._memory:
            self.peek()  # reads the queue's head (moving stale records aside)
        if self._memory:
            count, payload = self._memory.popleft()
            self.memory_bytes -= len(payload) if isinstance(payload, bytes) else 0
        elif self._head is not None:
            count = self._head[0]
            self._head = None
            assert self.queue is not None
            self.queue.ack(1)
            self._drained()
        else:
            count, payload = self._after.popleft()
            self.memory_bytes -= len(payload) if isinstance(payload, bytes) else 0
        self.items -= count

    def _drained(self) -> None:
        if self.queue is not None and not self.queue.depth and not self._memory:
            self._memory, self._after = self._after, self._memory  # what waited behind is next

    def _adopt(self, queue: DurableQueue) -> None:
        """Count what an earlier run left in the queue."""
        for record in queue:
            count, version = _HEADER.unpack_from(record)
            if version == _VERSION:
                self.items += count
            else:
                self._stale_waiting += 1
        self.stale = self._stale_waiting
        log.warning(
            "backlog: %d items in %d batches left by the last run; delivering them first",
            self.items,
            self.on_disk,
        )
        if self.stale:
            log.error(
                "backlog: %d batches from another callwatch version will be moved to %s",
                self.stale,
                self._stale_dir(),
            )

    def _set_aside(self, record: bytes) -> None:
        aside = self._stale_dir()
        aside.mkdir(parents=True, exist_ok=True)
        path = aside / f"{len(list(aside.iterdir())):012d}.batch"
        path.write_bytes(record)

    def _stale_dir(self) -> Path:
        assert self.directory is not None
        return self.directory / "stale"
