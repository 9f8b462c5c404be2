"""The one durable queue: records of bytes on disk, first in, first out, nothing accepted lost.

Used by the store writer (batches waiting for the database), the MQTT publisher (messages
waiting for the broker) and the store sink's backlog (batches waiting for the store process);
the packet journal writes its records with the same framing (:func:`frame`, :func:`frames`).

Layout: a directory of segment files ``<number>.queue`` (16 digits), read in number order.
Each record is a frame: a header ``<length, CRC-32 of kind and body, kind>`` (little-endian
``u32 u32 u8``) and the body. :meth:`DurableQueue.append` adds records to the newest
segment (a new one past ``segment_bytes``); :meth:`DurableQueue.prepend` writes a segment
numbered below the oldest; :meth:`DurableQueue.peek` reads from the read cursor without
consuming; :meth:`DurableQueue.ack` consumes. The cursor (segment and byte offset) is kept in
the file ``cursor``, replaced atomically; segments read to their end are deleted.

Durability: with ``fsync=True`` every append and every cursor change is fsync'd (with the
directory) before the call returns, so it survives a power cut; otherwise records are in
the kernel's page cache when the call returns (they survive the process, not the machine).
A record acknowledged but whose cursor change did not reach the disk is read again after a
crash, never lost: consumers absorb the duplicate (the store's upserts, QoS 1 ids).

Bounds: at most ``max_bytes`` of unconsumed records. An append that does not fit raises
:class:`QueueFull` and writes nothing of it; the caller keeps what was refused.

Recovery (one path, on open): segments before the cursor are deleted; every other segment is
read and checked frame by frame. A record whose CRC does not match is skipped; a frame cut
short or with a header that cannot be right (a write interrupted by a kill or a power cut)
ends its segment there. Both are counted in :attr:`DurableQueue.corrupt` and logged once per
open, with the segments and offsets. Appends after open always start a new segment, so
nothing is ever written after a damaged tail; a write that fails part way does the same.
"""

from __future__ import annotations

import logging
import os
import struct
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

log = logging.getLogger(__name__)

HEAD = struct.Struct("<IIB")
"""A frame's header: body length, CRC-32 of the kind byte and the body, kind."""
MAX_BODY = 256 << 20
"""A length above this is a damaged header, not a record."""
RECORD = 1
"""The kind of a queue record (the journal has kinds of its own)."""

_SUFFIX = ".queue"
_CURSOR = "cursor"
_FIRST = 10**12  # the first segment's number: room below for prepended segments
_EARLIER = ("[0-9]*.jsonl", "[0-9]*.batch", "acked")  # the three spools this queue replaced


class QueueError(Exception):
    """The queue's directory cannot be read or written."""


class QueueFull(QueueError):
    """The queue holds ``max_bytes``: the records were refused, nothing of them written."""


def frame(kind: int, body: bytes) -> bytes:
    """One record as written to disk: header and body."""
    return HEAD.pack(len(body), zlib.crc32(body, kind), kind) + body


def frames(data: bytes, kinds: Sequence[int]) -> Iterator[tuple[int, int, bytes | None]]:
    """``(end offset, kind, body)`` of each whole frame of ``data`` (body None when its CRC
    does not match), up to the first frame cut short or whose header cannot be right."""
    offset = 0
    size = len(data)
    while offset + HEAD.size <= size:
        length, crc, kind = HEAD.unpack_from(data, offset)
        start = offset + HEAD.size
        if length > MAX_BODY or start + length > size or kind not in kinds:
            return
        body = data[start : start + length]
        offset = start + length
        yield offset, kind, body if zlib.crc32(body, kind) == crc else None


@dataclass(slots=True)
class _Segment:
    number: int
    path: Path
    end: int  # where its whole frames end (what is after is a damaged tail, never read)


class DurableQueue:
    """A bounded FIFO of ``bytes`` records in ``directory`` (created if missing)."""

    def __init__(
        self,
        directory: str | Path,
        *,
        max_bytes: int = 256 << 20,
        segment_bytes: int = 8 << 20,
        fsync: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.corrupt = 0
        """Damaged records and tails found at open (skipped, never read)."""
        self.depth = 0
        """Records waiting."""
        self.bytes = 0
        """Bytes of the records waiting, headers included."""
        self._segments: list[_Segment] = []
        self._fd: int | None = None  # the segment appends go to (always the newest)
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._read = self._load_cursor()
            self._recover()
        except OSError as exc:
            raise QueueError(f"queue {self.directory}: {exc}") from exc

    def __len__(self) -> int:
        return self.depth

    # -- writing ----------------------------------------------------------------------------

    def append(self, records: Sequence[bytes]) -> None:
        """Add ``records`` after every other; :class:`QueueFull` when they do not all fit."""
        data = self._framed(records)
        if not data:
            return
        if self._fd is None or self._segments[-1].end + len(data) > self.segment_bytes:
            self._close_head()
            number = self._segments[-1].number + 1 if self._segments else self._read[0]
            path = self._path(number)
            try:
                self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            except OSError as exc:
                raise QueueError(f"queue {self.directory}: cannot open {path}: {exc}") from exc
            self._segments.append(_Segment(number, path, 0))
            self._sync_dir()
        head = self._segments[-1]
        try:
            _write_all(self._fd, data)
            if self.fsync:
                os.fsync(self._fd)
        except OSError as exc:
            self._close_head()  # what follows goes to a new segment, never after a torn write
            raise QueueError(f"queue {self.directory}: cannot write: {exc}") from exc
        head.end += len(data)
        self.depth += len(records)
        self.bytes += len(data)

    def prepend(self, records: Sequence[bytes]) -> None:
        """Put ``records`` before every other (taken in already: the bound does not refuse
        them)."""
        data = self._framed(records, bounded=False)
        if not data:
            return
        number, offset = self._read
        rest = b""
        folded = self._segments[0] if self._segments else None
        if folded is not None and folded.number == number and offset:
            # the unread rest of the cursor's segment moves in, so its read part is not read again
            if folded is self._segments[-1]:
                self._close_head()
            try:
                with open(folded.path, "rb") as f:
                    f.seek(offset)
                    rest = f.read(folded.end - offset)
            except OSError as exc:
                raise QueueError(f"queue {self.directory}: cannot read: {exc}") from exc
        else:
            folded = None
        first = min(number, self._segments[0].number) if self._segments else number
        segment = _Segment(first - 1, self._path(first - 1), len(data) + len(rest))
        tmp = segment.path.with_suffix(".tmp")
        try:
            with open(tmp, "wb") as f:
                f.write(data + rest)
                if self.fsync:
                    os.fsync(f.fileno())
            os.replace(tmp, segment.path)
        except OSError as exc:
            raise QueueError(f"queue {self.directory}: cannot write: {exc}") from exc
        self._segments.insert(0, segment)
        self._read = (segment.number, 0)
        self._save_cursor()
        if folded is not None:
            self._segments.remove(folded)
            folded.path.unlink(missing_ok=True)
        self.depth += len(records)
        self.bytes += len(data)

    # -- reading ----------------------------------------------------------------------------

    def peek(self, limit: int = 1) -> list[bytes]:
        """Up to ``limit`` of the oldest records, not consumed."""
        return [body for _number, _end, _size, body in self._scan(limit)]

    def __iter__(self) -> Iterator[bytes]:
        """Every record waiting, oldest first, read one at a time (none consumed)."""
        return (body for _number, _end, _size, body in self._scan(None))

    def ack(self, count: int = 1) -> None:
        """Consume the ``count`` oldest records (those :meth:`peek` returned first)."""
        last = None
        consumed = size = 0
        for number, end, length, _body in self._scan(count):
            consumed += 1
            size += length
            last = (number, end)
        if last is None:
            return
        self._read = last
        self.depth -= consumed
        self.bytes -= size
        self._save_cursor()
        while self._segments:  # drop segments read to their end (the head once all is read)
            first = self._segments[0]
            if first.number > self._read[0] or (
                first.number == self._read[0] and self._read[1] < first.end
            ):
                break
            if len(self._segments) == 1:
                if self.depth:
                    break
                self._close_head()
            self._segments.pop(0)
            first.path.unlink(missing_ok=True)
            if self._read[0] == first.number:
                self._read = (first.number + 1, 0)
        if not self.depth:
            self.bytes = 0

    def close(self) -> None:
        """Close the segment being written (the queue can be opened again)."""
        self._close_head()

    # -- internals --------------------------------------------------------------------------

    def _framed(self, records: Sequence[bytes], *, bounded: bool = True) -> bytes:
        data = b"".join([frame(RECORD, r) for r in records])
        if bounded and data and self.bytes + len(data) > self.max_bytes:
            raise QueueFull(
                f"queue {self.directory} is full: {self.bytes} of its {self.max_bytes} bytes "
                f"hold {self.depth} records waiting; {len(records)} more ({len(data)} bytes) "
                "refused"
            )
        return data

    def _scan(self, limit: int | None) -> Iterator[tuple[int, int, int, bytes]]:
        """``(segment, end offset, framed size, body)`` of good records from the cursor on."""
        taken = 0
        for seg in list(self._segments):
            if seg.number < self._read[0]:
                continue
            offset = self._read[1] if seg.number == self._read[0] else 0
            if offset >= seg.end:
                continue
            try:
                with open(seg.path, "rb") as f:
                    f.seek(offset)
                    for end, body in _read_frames(f, offset, seg.end):
                        if limit is not None and taken >= limit:
                            return
                        if body is not None:
                            taken += 1
                            yield seg.number, end, end - offset, body
                        offset = end
            except OSError as exc:
                raise QueueError(f"queue {self.directory}: cannot read {seg.path}: {exc}") from exc

    def _recover(self) -> None:
        numbers = []
        for path in self.directory.glob(f"*{_SUFFIX}"):
            stem = path.name[: -len(_SUFFIX)]
            if stem.isdigit():
                numbers.append(int(stem))
        for tmp in self.directory.glob("*.tmp"):
            tmp.unlink()  # a prepend or cursor change cut short: the old state stands
        numbers.sort()
        if numbers and self._read[0] < numbers[0]:
            self._read = (numbers[0], 0)
        elif not numbers and self._read[1]:  # everything was read: it points into nothing
            self._read = (self._read[0] if self._read[0] > 0 else _FIRST, 0)
            self._save_cursor()
        elif not numbers and self._read[0] <= 0:
            self._read = (_FIRST, 0)
        earlier = [p.name for g in _EARLIER for p in self.directory.glob(g)]
        if earlier:
            log.error(
                "queue %s: %d files of the spool format before callwatch's durable queue "
                "(%s) are left untouched and not read; stop with the database and the "
                "broker up before upgrading so that spools are empty",
                self.directory,
                len(earlier),
                ", ".join(sorted(earlier)[:5]),
            )
        damage = []
        for number in numbers:
            path = self._path(number)
            if number < self._read[0]:
                path.unlink()  # read to its end before the last stop
                continue
            data = path.read_bytes()
            start = self._read[1] if number == self._read[0] else 0
            end = 0
            for end, _kind, body in frames(data, (RECORD,)):
                if body is None:
                    self.corrupt += 1
                    damage.append(f"{path.name} record ending at byte {end} (checksum)")
                elif end > start:
                    self.depth += 1
                    self.bytes += len(body) + HEAD.size
            if end < len(data):
                self.corrupt += 1
                damage.append(f"{path.name} from byte {end} ({len(data) - end} bytes cut short)")
            self._segments.append(_Segment(number, path, end))
        if damage:
            log.warning(
                "queue %s: %d damaged records skipped (a write cut short?): %s",
                self.directory,
                len(damage),
                "; ".join(damage[:5]),
            )

    def _load_cursor(self) -> tuple[int, int]:
        try:
            number, offset = (self.directory / _CURSOR).read_text().split()
            return int(number), max(0, int(offset))
        except FileNotFoundError:
            return _FIRST, 0
        except ValueError:
            log.error(
                "queue %s: cursor unreadable; reading from the oldest segment", self.directory
            )
            return 0, 0

    def _save_cursor(self) -> None:
        tmp = self.directory / f"{_CURSOR}.tmp"
        try:
            with open(tmp, "w") as f:
                f.write(f"{self._read[0]} {self._read[1]}\n")
                if self.fsync:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, self.directory / _CURSOR)
            self._sync_dir()
        except OSError as exc:
            raise QueueError(f"queue {self.directory}: cannot record progress: {exc}") from exc

    def _sync_dir(self) -> None:
        if self.fsync:
            fd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def _close_head(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _path(self, number: int) -> Path:
        return self.directory / f"{number:016d}{_SUFFIX}"


def _read_frames(f: BinaryIO, offset: int, end: int) -> Iterator[tuple[int, bytes | None]]:
    """``(end offset, body or None when damaged)`` of the frames of ``f`` from ``offset``
    (where ``f`` stands) to ``end`` (checked at open: every frame there is whole)."""
    while offset < end:
        length, crc, kind = HEAD.unpack(f.read(HEAD.size))
        body = f.read(length)
        offset += HEAD.size + length
        yield offset, body if zlib.crc32(body, kind) == crc else None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
