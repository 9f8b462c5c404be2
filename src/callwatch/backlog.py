"""Sealed batches waiting for a sink, oldest first: in memory up to a byte limit, then in files.

Why: when the store falls behind in a burst, what waits for it must neither stall capture nor
grow without bound. A sealed batch is one ``bytes`` object (its items already pickled), which
the garbage collector never scans, unlike the hundreds of thousands of small objects it held;
past ``memory_limit`` bytes, new batches go to numbered files in ``directory`` and are read
back in order when the sink catches up. Nothing is dropped: when a file cannot be written
(disk full), the batch stays in memory and the failure is logged once and counted.

Order is kept: once one batch is on disk, every newer batch goes to disk too until the files
are drained (and once a write failed, every newer batch waits in memory behind the files), so
batches always leave in the order they were pushed. Files left by an earlier
run (the service was killed while a backlog waited) are delivered first on the next start.
A file written by another version of callwatch may not unpickle here: such files are moved
to ``directory/stale/`` untouched, logged and counted, for an admin to replay or remove.
"""

from __future__ import annotations

import logging
import os
import struct
from collections import deque
from pathlib import Path
from typing import Any

from callwatch import __version__

log = logging.getLogger(__name__)

_MAGIC = b"CWB1"
_HEADER = struct.Struct("!4sI16s")  # magic, item count, callwatch version (padded)
_SUFFIX = ".batch"


class Backlog:
    """A FIFO of ``(count, payload)`` batches of ``count`` items each.

    Only ``bytes`` payloads count against ``memory_limit`` and can go to disk; any other
    payload (a plain list, for a sink that needs no pickling) always waits in memory."""

    def __init__(self, directory: Path | None, memory_limit: int = 64 << 20) -> None:
        self.directory = directory
        self.memory_limit = memory_limit
        self.items = 0
        """Items in every batch waiting, in memory and on disk."""
        self.memory_bytes = 0
        self.stale = 0
        """Files from another version moved aside at start."""
        self.write_errors = 0
        self._memory: deque[tuple[int, Any]] = deque()  # older than every file
        self._files: deque[tuple[int, Path]] = deque()
        self._after: deque[tuple[int, Any]] = deque()  # newer than every file (disk refused)
        self._next_seq = 0
        self._head: tuple[int, bytes] | None = None  # the oldest file, read once
        if directory is not None:
            self._adopt(directory)

    @property
    def batches(self) -> int:
        """Batches waiting, in memory and on disk."""
        return len(self._memory) + len(self._files) + len(self._after)

    @property
    def on_disk(self) -> int:
        """Batches waiting in files."""
        return len(self._files)

    def push(self, count: int, payload: Any) -> None:
        """Add a batch of ``count`` items behind every other."""
        self.items += count
        size = len(payload) if isinstance(payload, bytes) else 0
        self.memory_bytes += size
        if self._after or (self._files and not size):
            self._after.append((count, payload))
            return
        if size and self.directory is not None:
            full = self.memory_bytes > self.memory_limit
            if self._files or full:
                if self._write(count, payload):
                    self.memory_bytes -= size
                else:  # behind the files, if any: they are older
                    (self._after if self._files else self._memory).append((count, payload))
                return
        self._memory.append((count, payload))

    def peek(self) -> tuple[int, Any] | None:
        """The oldest batch, without removing it (None when empty)."""
        if self._memory:
            return self._memory[0]
        if not self._files:
            return None
        if self._head is None:
            count, path = self._files[0]
            self._head = (count, path.read_bytes()[_HEADER.size :])
        return self._head

    def pop(self) -> None:
        """Remove the oldest batch (once it was delivered)."""
        payload: Any = None  # a file's batch never counted against memory
        if self._memory:
            count, payload = self._memory.popleft()
        else:
            count, path = self._files.popleft()
            self._head = None
            path.unlink(missing_ok=True)
            if not self._files:  # what waited behind the files is next
                self._memory, self._after = self._after, self._memory
        self.items -= count
        if isinstance(payload, bytes):
            self.memory_bytes -= len(payload)

    # -- files ---------------------------------------------------------------------------

    def _write(self, count: int, payload: bytes) -> bool:
        assert self.directory is not None
        path = self.directory / f"{self._next_seq:012d}{_SUFFIX}"
        header = _HEADER.pack(_MAGIC, count, __version__.encode()[:16])
        tmp = path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(header)
                f.write(payload)
            os.replace(tmp, path)
        except OSError as exc:
            if not self.write_errors:
                log.error("backlog: cannot write %s (%s); keeping batches in memory", path, exc)
            self.write_errors += 1
            tmp.unlink(missing_ok=True)
            return False
        self._next_seq += 1
        self._files.append((count, path))
        return True

    def _adopt(self, directory: Path) -> None:
        """Queue the files an earlier run left, oldest first; move foreign ones aside."""
        directory.mkdir(parents=True, exist_ok=True)
        for tmp in directory.glob("*.tmp"):
            tmp.unlink(missing_ok=True)  # a write cut short: its batch was still in memory
        version = __version__.encode()[:16].ljust(16, b"\0")
        for path in sorted(directory.glob(f"*{_SUFFIX}")):
            with open(path, "rb") as f:
                head = f.read(_HEADER.size)
            seq = int(path.stem) if path.stem.isdigit() else -1
            if len(head) == _HEADER.size and seq >= 0:
                magic, count, made_by = _HEADER.unpack(head)
                if magic == _MAGIC and made_by == version:
                    self._files.append((count, path))
                    self.items += count
                    self._next_seq = seq + 1
                    continue
            stale = directory / "stale"
            stale.mkdir(exist_ok=True)
            os.replace(path, stale / path.name)
            self.stale += 1
        if self._files:
            log.warning(
                "backlog: %d items in %d batches left by the last run; delivering them first",
                self.items,
                len(self._files),
            )
        if self.stale:
            log.error(
                "backlog: %d batch files from another callwatch version moved to %s",
                self.stale,
                directory / "stale",
            )
