"""A bounded on-disk spool of batches waiting for the database.

A directory of append-only JSON-lines segment files (``<first seq>.jsonl``), one line per
batch: ``<crc32 hex> {"seq": n, "items": [...]}``. Every append is flushed and fsync'd before
:meth:`Spool.append` returns, so an acknowledged batch survives a crash. ``acked`` (a file
replaced atomically) holds the sequence number of the last batch written to the database;
segments whose batches are all acknowledged are deleted.

A crash in the middle of an append leaves a torn last line: opening the spool detects it (no
newline, bad checksum or bad JSON), counts it in :attr:`Spool.corrupt` and logs it, keeps every
good line, and never appends after it (the next batch opens a new segment).

When the spool holds ``max_bytes`` it refuses new batches with :class:`SpoolFull` rather than
dropping old ones: nothing accepted is ever lost, and the caller (the store writer) holds the
refused batch in memory and pushes back on its producer (see :mod:`callwatch.store.writer`).
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from callwatch.store.errors import SpoolError, SpoolFull

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 256 * 1024 * 1024
DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024
_SUFFIX = ".jsonl"
_ACKED = "acked"


@dataclass(frozen=True, slots=True)
class SpooledBatch:
    """One batch read back from the spool."""

    seq: int
    items: list[dict[str, Any]]


@dataclass(slots=True)
class _Entry:
    seq: int
    segment: Path
    offset: int
    length: int


class Spool:
    """Batches of JSON records on disk, read back in the order they were appended."""

    def __init__(
        self,
        directory: str | Path,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        segment_bytes: int = DEFAULT_SEGMENT_BYTES,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.corrupt = 0
        """Torn or damaged lines found when the spool was opened (skipped, not replayed)."""
        self._entries: list[_Entry] = []
        self._sizes: dict[Path, int] = {}
        self._active: Path | None = None
        self._acked = 0
        """The highest sequence number acknowledged (read from disk)."""
        self._last_seq = 0
        """The highest sequence number appended (read from disk, then counted on)."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._acked = self._read_acked()
            self._scan()
        except OSError as exc:
            raise SpoolError(f"spool {self.directory}: {exc}") from exc

    @property
    def depth(self) -> int:
        """Batches waiting."""
        return len(self._entries)

    @property
    def size(self) -> int:
        """Bytes on disk in segment files."""
        return sum(self._sizes.values())

    def append(self, items: list[dict[str, Any]]) -> int:
        """Write one batch durably; return its sequence number. Raises :class:`SpoolFull`
        when it would not fit (nothing is written then)."""
        seq = max([self._acked, *(e.seq for e in self._entries), self._last_seq]) + 1
        payload = json.dumps(
            {"seq": seq, "items": items}, ensure_ascii=False, separators=(",", ":")
        )
        line = f"{zlib.crc32(payload.encode()):08x} {payload}\n".encode()
        if self.size + len(line) > self.max_bytes:
            raise SpoolFull(
                f"spool {self.directory} is full ({self.size} of {self.max_bytes} bytes, "
                f"{self.depth} batches waiting for the database)"
            )
        try:
            segment = self._segment_for(len(line))
            with open(segment, "ab") as f:
                offset = f.tell()
                f.write(line)
                f.flush()
                os.fsync(f.fileno())
        except OSError as exc:
            raise SpoolError(f"spool {self.directory}: cannot write: {exc}") from exc
        self._sizes[segment] = offset + len(line)
        self._entries.append(_Entry(seq, segment, offset, len(line)))
        self._last_seq = seq
        return seq

    def peek(self) -> SpooledBatch | None:
        """The oldest batch not yet acknowledged, or None."""
        if not self._entries:
            return None
        entry = self._entries[0]
        try:
            with open(entry.segment, "rb") as f:
                f.seek(entry.offset)
                raw = f.read(entry.length)
        except OSError as exc:
            raise SpoolError(f"spool {entry.segment}: cannot read: {exc}") from exc
        record = _decode(raw)
        if record is None:
            raise SpoolError(f"spool {entry.segment}: batch {entry.seq} changed on disk")
        return SpooledBatch(entry.seq, record["items"])

    def ack(self, seq: int) -> None:
        """The batch ``seq`` (and every older one) is in the database: forget it."""
        self._entries = [e for e in self._entries if e.seq > seq]
        self._acked = max(self._acked, seq)
        try:
            tmp = self.directory / f"{_ACKED}.tmp"
            with open(tmp, "w") as f:
                f.write(str(self._acked))
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, self.directory / _ACKED)
            live = {e.segment for e in self._entries}
            for segment in list(self._sizes):
                if segment not in live:
                    segment.unlink(missing_ok=True)
                    del self._sizes[segment]
                    if segment == self._active:
                        self._active = None
            _fsync_dir(self.directory)
        except OSError as exc:
            raise SpoolError(f"spool {self.directory}: cannot record progress: {exc}") from exc

    def _segment_for(self, length: int) -> Path:
        active = self._active
        if active is None or self._sizes.get(active, 0) + length > self.segment_bytes:
            active = self.directory / f"{self._last_seq + 1:012d}{_SUFFIX}"
            active.touch()
            _fsync_dir(self.directory)
            self._sizes[active] = 0
            self._active = active
        return active

    def _read_acked(self) -> int:
        path = self.directory / _ACKED
        if not path.exists():
            return 0
        text = path.read_text().strip()
        if not text.isdigit():
            raise SpoolError(f"spool {path}: not a sequence number: {text[:40]!r}")
        return int(text)

    def _scan(self) -> None:
        self._last_seq = self._acked
        for segment in sorted(self.directory.glob(f"*{_SUFFIX}")):
            data = segment.read_bytes()
            self._sizes[segment] = len(data)
            offset = 0
            for raw in data.splitlines(keepends=True):
                record = _decode(raw) if raw.endswith(b"\n") else None
                if record is None:
                    self.corrupt += 1
                    log.warning(
                        "spool %s: damaged line at byte %d skipped (%d bytes; a write cut short?)",
                        segment,
                        offset,
                        len(raw),
                    )
                else:
                    seq = record["seq"]
                    self._last_seq = max(self._last_seq, seq)
                    if seq > self._acked:
                        self._entries.append(_Entry(seq, segment, offset, len(raw)))
                offset += len(raw)
            if not any(e.segment == segment for e in self._entries):
                segment.unlink()
                del self._sizes[segment]
        self._entries.sort(key=lambda e: e.seq)


def _decode(raw: bytes) -> dict[str, Any] | None:
    crc, _, payload = raw.rstrip(b"\n").partition(b" ")
    try:
        if int(crc, 16) != zlib.crc32(payload):
            return None
        record = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("seq"), int):
        return None
    if not isinstance(record.get("items"), list):
        return None
    return record


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
