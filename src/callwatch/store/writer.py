"""The store writer: batches outputs, writes them, and spools them while the database is away.

Theory of operation (all in the caller's thread; nothing here sleeps or starts threads):

- :meth:`StoreWriter.add` buffers items; a batch goes out when it holds ``batch_size`` items or,
  on :meth:`StoreWriter.poll`, when its oldest item has waited ``max_delay`` seconds.
- A batch is written with one :meth:`Store.save`. When the database is unreachable
  (:class:`StoreUnavailable`) the batch is appended to the spool (a
  :class:`~callwatch.diskqueue.DurableQueue`, one record per batch: the JSON list of its
  items as :func:`~callwatch.store.codec.encode_output` gives them) and the writer backs
  off (``backoff_initial`` doubling to ``backoff_max`` seconds). While the spool holds batches
  every new batch goes behind them, so the database receives batches in their original order.
- When the back-off has passed, :meth:`poll` (or the next batch) drains the spool oldest first
  and only then writes new batches. A batch is acknowledged in the spool after its
  transaction commits; a crash in between replays it, which the store's idempotent upserts
  absorb: nothing is lost and nothing is stored twice.
- When the spool is full the batch stays in memory; once ``max_pending`` items wait there,
  :meth:`add` refuses more with :class:`SpoolFull` (the caller keeps them and slows down).
  Memory stays bounded and nothing is dropped silently: the refusal is counted in ``refused``.
- A batch the database rejects for another reason (a bug or bad data, not an outage) would
  block the spool forever; it is written to ``rejected.jsonl`` in the spool directory, logged
  and counted in ``rejected`` instead.

Times are ``time.monotonic()`` seconds (an adapter, not the core); tests pass a fake clock.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from callwatch.charter.profile import Profile
from callwatch.diskqueue import DurableQueue, QueueError, QueueFull
from callwatch.store.codec import StoreItem, decode_output, encode_output
from callwatch.store.errors import (
    CodecError,
    SpoolError,
    SpoolFull,
    StoreError,
    StoreUnavailable,
)
from callwatch.store.store import Store

log = logging.getLogger(__name__)


@dataclass(slots=True)
class WriterStats:
    """Counters for metrics: items written and spooled, batches waiting on disk, failures."""

    written: int = 0
    spooled: int = 0
    spool_depth: int = 0
    failures: int = 0
    rejected: int = 0
    refused: int = 0
    last_latency_s: float | None = None


class StoreWriter:
    """Batches items for a :class:`Store`, falling back to a spool on disk during outages.

    ``profiles`` resolves the charter of spooled calls when they are read back (the site's
    profiles; default: the built-in charters).
    """

    def __init__(
        self,
        store: Store,
        spool: DurableQueue,
        *,
        profiles: Mapping[str, Profile] | None = None,
        batch_size: int = 500,
        max_delay: float = 0.5,
        max_pending: int = 50_000,
        backoff_initial: float = 0.5,
        backoff_max: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.spool = spool
        self.profiles = profiles
        self.batch_size = batch_size
        self.max_delay = max_delay
        self.max_pending = max_pending
        self.backoff_initial = backoff_initial
        self.backoff_max = backoff_max
        self.clock = clock
        self.stats = WriterStats(spool_depth=spool.depth)
        self._pending: list[StoreItem] = []
        self._oldest: float | None = None
        self._backoff = 0.0
        self._retry_at = 0.0

    @property
    def pending(self) -> int:
        """Items held in memory (not yet written or spooled)."""
        return len(self._pending)

    def add(self, items: Iterable[StoreItem]) -> None:
        """Take items; write a batch when ``batch_size`` are waiting. Raises
        :class:`SpoolFull` (taking none of ``items``) while the spool is full and
        ``max_pending`` items wait in memory."""
        items = list(items)
        if not items:
            return
        if len(self._pending) >= self.max_pending:
            self.flush()  # the database may be back (after the back-off)
        if len(self._pending) >= self.max_pending:
            self.stats.refused += len(items)
            raise SpoolFull(
                f"{len(self._pending)} items wait in memory and the spool is full: "
                f"refusing {len(items)} more until the database is back"
            )
        if self._oldest is None:
            self._oldest = self.clock()
        self._pending.extend(items)
        if len(self._pending) >= self.batch_size:
            self.flush()

    def poll(self) -> None:
        """Call now and then: writes a batch that waited ``max_delay``, retries the spool."""
        now = self.clock()
        if self._oldest is not None and now - self._oldest >= self.max_delay:
            self.flush()
        elif self.spool.depth and now >= self._retry_at:
            self.drain()

    def flush(self) -> None:
        """Write (or spool) everything held in memory now."""
        while self._pending:
            batch = self._pending[: self.batch_size]
            if not self._deliver(batch):
                return
            del self._pending[: len(batch)]
        self._oldest = None

    def close(self) -> None:
        """Flush and try once more to empty the spool (a clean shutdown)."""
        self.flush()
        if self.spool.depth:
            self._retry_at = 0.0
            self.drain()

    def drain(self) -> bool:
        """Write spooled batches oldest first; return True when the spool is empty."""
        if self.clock() < self._retry_at:
            return self.spool.depth == 0
        while batch := self.spool.peek(1):
            records = _records(batch[0])
            try:
                self._save([decode_output(record, self.profiles) for record in records])
            except StoreUnavailable as exc:
                self._failed(exc)
                return False
            except (StoreError, CodecError) as exc:
                self._reject(records, exc)
            self.spool.ack(1)
            self.stats.spool_depth = self.spool.depth
        return True

    def _deliver(self, batch: list[StoreItem]) -> bool:
        """Write or spool one batch; False when it could be neither (spool full)."""
        if self.clock() >= self._retry_at and (not self.spool.depth or self.drain()):
            try:
                self._save(batch)
                return True
            except StoreUnavailable as exc:
                self._failed(exc)
            except StoreError as exc:
                self._reject([encode_output(item) for item in batch], exc)
                return True
        records = [encode_output(item) for item in batch]
        try:
            self.spool.append([json.dumps(records, ensure_ascii=False).encode()])
        except QueueFull as exc:
            log.error("store writer: %s", exc)
            return False
        except QueueError as exc:
            raise SpoolError(str(exc)) from exc
        self.stats.spooled += len(batch)
        self.stats.spool_depth = self.spool.depth
        return True

    def _save(self, items: list[StoreItem]) -> None:
        start = self.clock()
        self.store.save(items)
        self.stats.last_latency_s = self.clock() - start
        self.stats.written += len(items)
        self._backoff = 0.0
        self._retry_at = 0.0

    def _failed(self, exc: StoreUnavailable) -> None:
        self.stats.failures += 1
        self._backoff = min(self.backoff_max, max(self.backoff_initial, self._backoff * 2))
        self._retry_at = self.clock() + self._backoff
        log.warning("store writer: %s; retrying in %.1f s", exc, self._backoff)

    def _reject(self, records: list[Any], exc: Exception) -> None:
        self.stats.rejected += len(records)
        path = self.spool.directory / "rejected.jsonl"
        log.error("store writer: batch of %d rejected (%s); kept in %s", len(records), exc, path)
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"error": str(exc), "items": records}, ensure_ascii=False) + "\n")


def _records(body: bytes) -> list[Any]:
    """The items of a spooled batch as JSON records; a body that is not a JSON list (not
    written by this writer) becomes one record that no decoder takes, kept aside then."""
    try:
        records = json.loads(body)
    except ValueError:
        records = None
    if isinstance(records, list):
        return records
    return [{"type": "unreadable", "body": body.decode("utf-8", "replace")}]
