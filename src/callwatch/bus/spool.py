"""The publisher's on-disk spool: bus messages waiting for the broker, first in, first out.

Theory of operation: the spool is a directory of segment files ``NNNNNNNNNNNN.jsonl``, one
JSON record per line (``{"k": kind, "t": topic, "i": id, "q": qos, "p": payload}``), appended
to the newest segment and read from the oldest. :meth:`MessageSpool.peek` reads records from
the read cursor without consuming them; :meth:`MessageSpool.ack` consumes them once the broker
has acknowledged them. The cursor (segment and byte offset) is kept in ``cursor`` (replaced
atomically), and a fully consumed segment is deleted, so a restarted process resumes where the
last one stopped: a record acknowledged but not yet recorded in ``cursor`` is sent again (a
QoS 1 duplicate with the same id, which consumers drop), never lost.

Bounds: ``max_bytes`` of unacknowledged records. :meth:`append` of a batch that does not fit
raises :class:`SpoolFull` and writes nothing of it. A torn last line (the process died while
writing) or a line that is not a record is skipped and counted in ``corrupt``.

Writes are flushed to the operating system on every append (they survive the process, not a
power cut); pass ``fsync=True`` to also survive the machine.
"""

from __future__ import annotations

import json
import logging
import os
from collections import deque
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from callwatch.bus.errors import SpoolError, SpoolFull
from callwatch.bus.payloads import KINDS, Message

log = logging.getLogger(__name__)

_SUFFIX = ".jsonl"
_CURSOR = "cursor"
_FIRST_SEGMENT = 1_000_000_000  # room below for prepended segments


class MessageSpool:
    """A bounded FIFO of :class:`Message` in ``directory`` (created if missing)."""

    def __init__(
        self,
        directory: str | Path,
        *,
        max_bytes: int = 256 * 1024 * 1024,
        segment_bytes: int = 4 * 1024 * 1024,
        fsync: bool = False,
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.fsync = fsync
        self.corrupt = 0
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SpoolError(f"cannot create spool directory {self.directory}: {exc}") from exc
        self._segments: deque[int] = deque(sorted(self._existing()))
        self._read_seg, self._read_off = self._load_cursor()
        self._head: IO[bytes] | None = None
        self._head_size = 0
        self.depth = 0
        self.bytes = 0
        self._recover()

    # -- writing ----------------------------------------------------------------------------

    def append(self, messages: Sequence[Message]) -> None:
        """Add ``messages`` at the tail; SpoolFull (nothing written) when they do not fit."""
        if not messages:
            return
        lines = [_encode(m) for m in messages]
        size = sum(len(line) for line in lines)
        if self.bytes + size > self.max_bytes:
            raise SpoolFull(
                f"spool {self.directory} holds {self.bytes} bytes; {size} more would pass "
                f"its limit of {self.max_bytes}"
            )
        try:
            head = self._writable()
            head.write(b"".join(lines))
            head.flush()
            if self.fsync:
                os.fsync(head.fileno())
        except OSError as exc:
            raise SpoolError(f"cannot write spool {self.directory}: {exc}") from exc
        self._head_size += size
        self.depth += len(messages)
        self.bytes += size

    def prepend(self, messages: Sequence[Message]) -> None:
        """Put ``messages`` before everything pending (messages whose publish failed).

        They were taken in already, so the size bound does not refuse them.
        """
        if not messages:
            return
        lines = [_encode(m) for m in messages]
        first = self._segments[0] if self._segments else self._read_seg
        seg = min(first, self._read_seg) - 1
        rest = b""
        old: int | None = None
        if self._segments and self._segments[0] == self._read_seg and self._read_off > 0:
            # Fold the unread rest of the first segment in, so its read part is not re-read.
            old = self._segments[0]
            if len(self._segments) == 1:
                self.close()
            try:
                with self._path(old).open("rb") as fh:
                    fh.seek(self._read_off)
                    rest = fh.read()
            except OSError as exc:
                raise SpoolError(f"cannot read spool segment {self._path(old)}: {exc}") from exc
        data = b"".join(lines) + rest
        path = self._path(seg)
        tmp = path.with_suffix(".tmp")
        try:
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError as exc:
            raise SpoolError(f"cannot write spool {self.directory}: {exc}") from exc
        self._segments.appendleft(seg)
        self._read_seg, self._read_off = seg, 0
        self._save_cursor()
        if old is not None:
            self._segments.remove(old)
            self._path(old).unlink(missing_ok=True)
        self.depth += len(messages)
        self.bytes += sum(len(line) for line in lines)

    # -- reading ----------------------------------------------------------------------------

    def peek(self, limit: int) -> list[Message]:
        """Up to ``limit`` of the oldest messages, not consumed."""
        return [message for _seg, _end, _size, message in self._scan(limit)]

    def ack(self, count: int) -> None:
        """Consume the ``count`` oldest messages (those :meth:`peek` returned first)."""
        if count <= 0:
            return
        consumed = size = 0
        last: tuple[int, int] | None = None
        for seg, end, length, _message in self._scan(count):
            consumed += 1
            size += length
            last = (seg, end)
        if last is None:
            return
        self._read_seg, self._read_off = last
        self.depth -= consumed
        self.bytes -= size
        self._drop_consumed()
        self._save_cursor()

    def close(self) -> None:
        """Close the head segment (the spool can still be reopened from its directory)."""
        if self._head is not None:
            self._head.close()
            self._head = None

    def __len__(self) -> int:
        return self.depth

    # -- internals --------------------------------------------------------------------------

    def _existing(self) -> list[int]:
        found = []
        for path in self.directory.glob(f"*{_SUFFIX}"):
            stem = path.name[: -len(_SUFFIX)]
            if stem.isdigit():
                found.append(int(stem))
        return found

    def _path(self, seg: int) -> Path:
        return self.directory / f"{seg:012d}{_SUFFIX}"

    def _load_cursor(self) -> tuple[int, int]:
        first = self._segments[0] if self._segments else _FIRST_SEGMENT
        try:
            seg_text, off_text = (self.directory / _CURSOR).read_text().split()
            seg, off = int(seg_text), int(off_text)
        except (OSError, ValueError):
            return first, 0
        if seg < first or off < 0:  # its segment is gone: start at the oldest left
            return first, 0
        return seg, off

    def _save_cursor(self) -> None:
        tmp = self.directory / (_CURSOR + ".tmp")
        try:
            tmp.write_text(f"{self._read_seg} {self._read_off}\n")
            os.replace(tmp, self.directory / _CURSOR)
        except OSError as exc:
            raise SpoolError(f"cannot write spool cursor in {self.directory}: {exc}") from exc

    def _recover(self) -> None:
        """On open: drop consumed segments, cut torn last lines, count what is pending."""
        for seg in list(self._segments):
            path = self._path(seg)
            if seg < self._read_seg:
                path.unlink(missing_ok=True)
                self._segments.remove(seg)
                continue
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise SpoolError(f"cannot read spool segment {path}: {exc}") from exc
            if data and not data.endswith(b"\n"):
                self.corrupt += 1
                log.warning("spool %s: cutting a torn last record", path)
                with path.open("r+b") as fh:
                    fh.truncate(data.rfind(b"\n") + 1)
        depth = size = 0
        for _seg, _end, length, _message in self._scan(None):
            depth += 1
            size += length
        self.depth, self.bytes = depth, size

    def _writable(self) -> IO[bytes]:
        if self._head is not None and self._head_size < self.segment_bytes:
            return self._head
        if self._head is not None:
            self._head.close()
        seg = self._segments[-1] + 1 if self._segments else self._read_seg
        self._segments.append(seg)
        self._head = self._path(seg).open("ab")
        self._head_size = 0
        return self._head

    def _scan(self, limit: int | None) -> Iterator[tuple[int, int, int, Message]]:
        """Yield ``(segment, end offset, line length, message)`` from the read cursor on."""
        taken = 0
        for seg in list(self._segments):
            if seg < self._read_seg:
                continue
            start = self._read_off if seg == self._read_seg else 0
            path = self._path(seg)
            try:
                with path.open("rb") as fh:
                    fh.seek(start)
                    offset = start
                    for line in fh:
                        if limit is not None and taken >= limit:
                            return
                        if not line.endswith(b"\n"):
                            break  # only while a write is in progress
                        offset += len(line)
                        message = _decode(line)
                        if message is None:
                            self.corrupt += 1
                            log.warning("spool %s: skipping a bad record", path)
                            continue
                        taken += 1
                        yield seg, offset, len(line), message
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise SpoolError(f"cannot read spool segment {path}: {exc}") from exc

    def _drop_consumed(self) -> None:
        """Delete segments read to their end; the head too once everything is consumed."""
        while self._segments:
            first = self._segments[0]
            if first < self._read_seg:
                self._path(self._segments.popleft()).unlink(missing_ok=True)
                continue
            path = self._path(first)
            size = path.stat().st_size if path.exists() else 0
            if first != self._read_seg or self._read_off < size:
                break
            if len(self._segments) == 1:  # the head: only once nothing is pending
                if self.depth:
                    break
                self.close()
            self._path(self._segments.popleft()).unlink(missing_ok=True)
            self._read_seg, self._read_off = first + 1, 0
        if self.depth == 0:
            self.bytes = 0


def _encode(message: Message) -> bytes:
    record = {
        "k": message.kind,
        "t": message.topic,
        "i": message.id,
        "q": message.qos,
        "r": message.retain,
        "p": message.payload,
        "s": message.queued_at,
    }
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode()


def _decode(line: bytes) -> Message | None:
    try:
        record = json.loads(line)
        kind = record["k"]
        if kind not in KINDS:
            return None
        return Message(
            kind,
            str(record["t"]),
            str(record["p"]),
            str(record["i"]),
            int(record["q"]),
            bool(record.get("r", False)),
            float(record.get("s", 0.0)),
        )
    except (ValueError, KeyError, TypeError):
        return None
