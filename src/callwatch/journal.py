"""The packet journal: every packet, manager (AMI) event and wall-clock tick the live service
hands the core, written to disk before the core sees it.

Why: the core holds calls in memory until they end (and a little after), and the sinks hold
outputs until the database or the broker takes them. A killed process (kill -9, the OOM
killer, a crash) loses both. The core is deterministic (its time comes from the packets and
from the ticks the service hands it), so what it held can be rebuilt: on start the service
replays the journal through a fresh pipeline, which gives back the calls in flight and the
outputs no sink had taken yet (see :mod:`callwatch.service`).

Layout: a directory of segment files ``<first position>.journal`` (16 digits). Records are
numbered by *position*, from 1, across segments and across runs of the service; a segment's
records follow one another from its first position. Each record is a frame of the durable
queue's (:func:`callwatch.diskqueue.frame`: a header ``<length, CRC-32, kind>`` and a
body): a packet (its capture time, addresses, transport, payload, HEP capture id and
correlation id), a tick (the wall clock in microseconds) or a manager event (JSON: its time,
name, fields and place in its stream).
Each run of the service starts a new segment, and a segment is closed on a tick once it holds
``segment_bytes`` or has seen ``segment_ticks`` ticks, so every segment but the very first
begins with a tick. The file ``checkpoint`` holds the position up to which every output of
the core has been durably taken by every sink (written or spooled to disk).

Durability: records are buffered in memory and written by :meth:`PacketJournal.flush`, one
``os.write`` per batch, no fsync. The service flushes at the end of each batch a source reads
(and after each manager event and tick), before it returns to the event loop, so before
anything derived from those records can reach a sink; the buffer is also written whenever it
holds :data:`FLUSH_RECORDS` records. Once written, a record is in the kernel's page cache, so
it survives the process being killed; a power cut or a kernel crash can lose what the kernel
had not yet written back (seconds). A kill between a source's read and its flush loses what
was buffered, as it loses the datagrams still in the socket's receive buffer. A record cut
short (a write interrupted by the kill, or a power cut) is found by its length or CRC at the
next open; the segment is cut there, logged and counted in :attr:`PacketJournal.torn`.

Retention (:meth:`PacketJournal.checkpoint`): a closed segment is deleted once every one of
its records is at or before the checkpoint and the pipeline's watermark when the segment ended
is earlier than the earliest capture time the pipeline still holds
(:meth:`~callwatch.pipeline.CallPipeline.earliest_held`): none of its packets matters to a call
still open. Segments go oldest first, so what is left always replays from a segment start.
A write that fails (disk full) is logged once and its records counted in
:attr:`PacketJournal.errors`; the packets are still handed to the core (capture never stops
for the journal), and the next record opens a new segment.
"""

from __future__ import annotations

import json
import logging
import os
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from callwatch.diskqueue import frame, frames
from callwatch.packet import Packet
from callwatch.sip.ami import AmiEvent

log = logging.getLogger(__name__)

_SUFFIX = ".journal"
_CHECKPOINT = "checkpoint"
_PACKET = 1
_TICK = 2
_AMI = 3
# capture time, capture id (-1: none), source port, destination port, lengths of the source
# host, destination host and transport, of the correlation id (-1: none) and of the payload
_PACKET_HEAD = struct.Struct("<qqHHBBBiI")
_TICK_BODY = struct.Struct("<q")
_KINDS = (_PACKET, _TICK, _AMI)
FLUSH_RECORDS = 256
"""Records buffered at most before :meth:`PacketJournal.flush` writes them unasked."""

Record = Packet | int | AmiEvent
"""What :meth:`PacketJournal.replay` yields: a packet, a tick's wall clock (µs) or a manager
event."""


@dataclass(slots=True)
class _Segment:
    first: int
    path: Path
    last: int  # position of its last record (first - 1 while empty)
    size: int
    watermark: int | None = None  # the pipeline's watermark once its last record was taken


class PacketJournal:
    """Segment files of packets and ticks under ``directory`` (created if missing).

    ``watermark`` reads the pipeline's watermark; the journal asks it when a segment ends (on
    a live tick, or when :meth:`replay` has handed out a segment's last record).
    """

    def __init__(
        self,
        directory: str | Path,
        *,
        segment_bytes: int = 4 << 20,
        segment_ticks: int = 60,
        watermark: Callable[[], int] | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.segment_ticks = segment_ticks
        self.watermark = watermark or (lambda: 0)
        self.errors = 0
        """Records that could not be written (disk full, I/O error)."""
        self._reported = False
        self.torn = 0
        """Damaged records found at open (a write cut short); the segment was cut there."""
        self.directory.mkdir(parents=True, exist_ok=True)
        self._segments: list[_Segment] = []
        self._active: _Segment | None = None
        self._fd: int | None = None
        self._ticks = 0
        self._buffer: list[bytes] = []  # framed records of the active segment, not yet written
        self._checkpoint = self._read_checkpoint()
        self._scan()
        last = self._segments[-1].last if self._segments else 0
        self.position = max(self._checkpoint, last)
        """The position of the newest record (0 before the first)."""
        self.found = self.position
        """The newest position found at open: :meth:`replay` yields records up to it."""
        self.left = sum(s.last - s.first + 1 for s in self._segments)
        """Records an earlier run left (0: a clean start)."""

    # -- reading what an earlier run left ---------------------------------------------------

    @property
    def checkpoint_position(self) -> int:
        """Every output of records up to this position was durably taken by every sink."""
        return self._checkpoint

    def replay(self) -> Iterator[tuple[int, Record]]:
        """The records found at open, oldest first, as ``(position, record)``; call it before
        the first append."""
        for seg in [s for s in self._segments if s.last <= self.found]:
            position = seg.first
            for _end, kind, body in _records(seg.path.read_bytes()):
                yield position, _decode(kind, body)
                position += 1
            seg.watermark = self.watermark()

    # -- writing ----------------------------------------------------------------------------

    def append_packet(self, packet: Packet) -> int:
        """Buffer one packet (written by :meth:`flush`); return its position."""
        return self._append(_PACKET, _encode_packet(packet))

    def append_ami(self, event: AmiEvent) -> int:
        """Buffer one manager event (written by :meth:`flush`); return its position."""
        body = json.dumps([event.ts, event.name, event.fields, event.seq], ensure_ascii=False)
        return self._append(_AMI, body.encode())

    def append_tick(self, wall: int) -> int:
        """Buffer one tick (the wall clock handed to the core; written by :meth:`flush`);
        return its position. Closes the current segment first when it is full or old enough."""
        active = self._active
        if active is not None:
            self._ticks += 1
            if active.size >= self.segment_bytes or self._ticks >= self.segment_ticks:
                self._close_active()
        return self._append(_TICK, _TICK_BODY.pack(wall))

    def flush(self) -> None:
        """Write the buffered records to the active segment, in one ``os.write`` when the
        kernel takes it whole."""
        buffer = self._buffer
        if not buffer:
            return
        count = len(buffer)
        data = buffer[0] if count == 1 else b"".join(buffer)
        buffer.clear()
        active = self._active
        assert active is not None and self._fd is not None
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            self._failed("cannot write", exc, count)
            self._close_active()  # the next record starts a segment of its own
            return
        active.last += count
        active.size += len(data)

    def checkpoint(self, position: int, earliest: int | None) -> int:
        """Every output of the records up to ``position`` is durably taken, and the pipeline
        then held nothing stamped before ``earliest`` (None: held nothing at all). Records
        it and deletes the segments no longer needed; returns how many were deleted."""
        if position > self._checkpoint:
            self._checkpoint = position
            tmp = self.directory / f"{_CHECKPOINT}.tmp"
            try:
                tmp.write_text(f"{position}\n")
                os.replace(tmp, self.directory / _CHECKPOINT)
            except OSError as exc:
                self._failed("cannot record the checkpoint", exc)
                return 0
        deleted = 0
        while self._segments:
            seg = self._segments[0]
            if (
                seg is self._active
                or seg.last > self._checkpoint
                or seg.watermark is None
                or (earliest is not None and seg.watermark >= earliest)
            ):
                break
            seg.path.unlink(missing_ok=True)
            self._segments.pop(0)
            deleted += 1
        return deleted

    def clear(self) -> None:
        """Everything is durably taken and the pipeline holds nothing (a clean stop): record
        the newest position as the checkpoint and delete every segment."""
        self._close_active()
        for seg in self._segments:
            seg.watermark = seg.watermark if seg.watermark is not None else 0
        self.checkpoint(self.position, None)

    def close(self) -> None:
        """Write what is buffered and close the segment being written (the journal can be
        opened again)."""
        self._close_active()

    @property
    def segments(self) -> int:
        """Segment files on disk."""
        return len(self._segments)

    @property
    def size(self) -> int:
        """Bytes in segment files (written, not buffered)."""
        return sum(s.size for s in self._segments)

    # -- internals --------------------------------------------------------------------------

    def _append(self, kind: int, body: bytes) -> int:
        self.position = position = self.position + 1
        if self._fd is None and not self._open_segment(position):
            return position
        buffer = self._buffer
        buffer.append(frame(kind, body))
        if len(buffer) >= FLUSH_RECORDS:
            self.flush()
        return position

    def _open_segment(self, first: int) -> bool:
        path = self.directory / f"{first:016d}{_SUFFIX}"
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as exc:
            self._failed("cannot open a segment", exc, 1)
            return False
        self._active = _Segment(first, path, first - 1, 0)
        self._segments.append(self._active)
        self._ticks = 0
        return True

    def _close_active(self) -> None:
        self.flush()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if self._active is not None:
            self._active.watermark = self.watermark()
            if self._active.size == 0:
                self._active.path.unlink(missing_ok=True)
                self._segments.remove(self._active)
            self._active = None

    def _failed(self, what: str, exc: OSError, records: int = 0) -> None:
        """Log the first failure; count the ``records`` it lost."""
        if not self._reported:
            self._reported = True
            log.error(
                "journal %s: %s (%s); packets still reach the core but a crash now may lose "
                "some of their outputs; further failures are counted",
                self.directory,
                what,
                exc,
            )
        self.errors += records

    def _read_checkpoint(self) -> int:
        path = self.directory / _CHECKPOINT
        try:
            text = path.read_text().strip()
        except FileNotFoundError:
            return 0
        if not text.isdigit():
            log.error("journal %s: checkpoint %r unreadable; replaying everything", path, text)
            return 0
        return int(text)

    def _scan(self) -> None:
        """Find the segments an earlier run left; cut torn records off."""
        for tmp in self.directory.glob(f"{_CHECKPOINT}.tmp"):
            tmp.unlink(missing_ok=True)
        found = []
        for path in self.directory.glob(f"*{_SUFFIX}"):
            stem = path.name[: -len(_SUFFIX)]
            if stem.isdigit():
                found.append((int(stem), path))
        for first, path in sorted(found):
            data = path.read_bytes()
            count = end = 0
            for end_, _kind, _body in _records(data):
                count += 1
                end = end_
            if end < len(data):
                self.torn += 1
                log.warning(
                    "journal %s: damaged record at byte %d cut off (%d bytes; a write cut short?)",
                    path,
                    end,
                    len(data) - end,
                )
                with open(path, "r+b") as f:
                    f.truncate(end)
            if count == 0:
                path.unlink(missing_ok=True)
                continue
            self._segments.append(_Segment(first, path, first + count - 1, end))
        if self._segments:
            log.warning(
                "journal: %d records in %d segments left by the last run (checkpoint %d)",
                sum(s.last - s.first + 1 for s in self._segments),
                len(self._segments),
                self._checkpoint,
            )


def _records(data: bytes) -> Iterator[tuple[int, int, bytes]]:
    """``(end offset, kind, body)`` of each whole, intact record of a segment, up to the first
    bad one (the framing is the durable queue's, :func:`callwatch.diskqueue.frames`)."""
    for end, kind, body in frames(data, _KINDS):
        if body is None:
            return
        yield end, kind, body


def _encode_packet(p: Packet) -> bytes:
    src_host = p.src[0].encode()
    dst_host = p.dst[0].encode()
    transport = p.transport.encode()
    corr = p.correlation_id
    head = _PACKET_HEAD.pack(
        p.ts,
        -1 if p.capture_id is None else p.capture_id,
        p.src[1],
        p.dst[1],
        len(src_host),
        len(dst_host),
        len(transport),
        -1 if corr is None else len(corr),
        len(p.payload),
    )
    return b"".join((head, src_host, dst_host, transport, corr or b"", p.payload))


def _decode(kind: int, body: bytes) -> Record:
    if kind == _TICK:
        return int(_TICK_BODY.unpack(body)[0])
    if kind == _AMI:
        ts, name, fields, seq = json.loads(body)
        return AmiEvent(ts, name, tuple((str(k), str(v)) for k, v in fields), seq)
    ts, capture_id, sport, dport, lsrc, ldst, ltr, lcorr, lpay = _PACKET_HEAD.unpack_from(body)
    at = _PACKET_HEAD.size
    src = body[at : at + lsrc].decode()
    at += lsrc
    dst = body[at : at + ldst].decode()
    at += ldst
    transport = body[at : at + ltr].decode()
    at += ltr
    corr = None
    if lcorr >= 0:
        corr = body[at : at + lcorr]
        at += lcorr
    payload = body[at : at + lpay]
    return Packet(
        ts,
        (src, sport),
        (dst, dport),
        transport,
        payload,
        None if capture_id < 0 else capture_id,
        corr,
    )
