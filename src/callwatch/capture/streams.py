"""TCP stream reassembly per direction, with SIP framing and SIP over WebSocket (RFC 7118).

Each direction of a connection is a :class:`_Stream`. Segments are put in sequence order:
retransmitted bytes are dropped, segments that arrive early wait (bounded) until the gap before
them fills, and a gap that never fills is given up on, counted as ``tcp_gap``. The ordered bytes
go through one of three framers, chosen by what the stream starts with:

* SIP: messages cut by ``Content-Length`` (:func:`callwatch.capture.framing.split_sip`);
* WebSocket: an HTTP ``GET`` with ``Upgrade: websocket`` or an ``HTTP/1.1 101`` answer, after
  which each WebSocket message (text or binary, masked or not, possibly fragmented) is one SIP
  message;
* anything else is skipped; the stream is probed again at the next segment, so a capture that
  starts in the middle of a SIP connection picks up at the next message that starts a segment.

A message's ``ts`` is the capture time of the segment that carried its first byte; its
``frame`` is the frame that completed it.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from typing import Final

from callwatch.capture.framing import FramingError, is_sip, split_sip
from callwatch.capture.packet import Address, Packet
from callwatch.packet import MAX_MESSAGE

_PROBE, _SIP, _WS, _SKIP_HTTP = 0, 1, 2, 3

_MAX_PENDING_SEGMENTS: Final = 64
_MAX_PENDING_BYTES: Final = 1 << 20
_MAX_STREAMS: Final = 4096
_MAX_HTTP_HEAD: Final = 16_384

_U16: Final = struct.Struct("!H")
_U64: Final = struct.Struct("!Q")
_UPGRADE: Final = re.compile(rb"(?im)^upgrade[ \t]*:[ \t]*websocket")


class _Stream:
    __slots__ = (
        "base",
        "buf",
        "dst",
        "marks",
        "mode",
        "next_seq",
        "pending",
        "pending_bytes",
        "src",
        "ws_msg",
        "ws_ts",
    )

    def __init__(self, src: Address, dst: Address, seq: int) -> None:
        self.src = src
        self.dst = dst
        self.next_seq = seq
        self.buf = bytearray()
        self.base = 0  # stream offset of buf[0]
        self.marks: list[tuple[int, int]] = []  # (stream offset, ts) of each segment's start
        self.pending: dict[int, tuple[bytes, int]] = {}
        self.pending_bytes = 0
        self.mode = _PROBE
        self.ws_msg: bytearray | None = None
        self.ws_ts = 0

    def ts_at(self, offset: int) -> int:
        """Capture time of the segment that carried stream byte ``offset``; drops older marks."""
        marks = self.marks
        i = 0
        while i + 1 < len(marks) and marks[i + 1][0] <= offset:
            i += 1
        if i:
            del marks[:i]
        return marks[0][1] if marks else 0


class TcpStreams:
    """Reassembles TCP payloads into SIP packets.

    ``on_skip(kind)`` and ``on_error(kind)`` count what is not SIP and what is broken.
    """

    def __init__(self, on_skip: Callable[[str], None], on_error: Callable[[str], None]) -> None:
        self._streams: dict[tuple[bytes, int, bytes, int], _Stream] = {}
        self._skip = on_skip
        self._error = on_error

    def __len__(self) -> int:
        return len(self._streams)

    def segment(
        self,
        key: tuple[bytes, int, bytes, int],
        src: Address,
        dst: Address,
        seq: int,
        flags: int,
        data: bytes,
        ts: int,
        frame: int,
        out: list[Packet],
    ) -> None:
        """Feed one segment of the direction ``key`` (raw src ip, src port, dst ip, dst port)."""
        streams = self._streams
        stream = streams.get(key)
        syn = flags & 0x02
        if stream is None or syn:
            if not data and not syn:
                return
            if stream is None and len(streams) >= _MAX_STREAMS:
                del streams[next(iter(streams))]
                self._error("tcp_stream_evicted")
            stream = streams[key] = _Stream(src, dst, (seq + 1 if syn else seq))
        if data:
            self._place(stream, seq, data, ts, frame, out)
        if flags & 0x05:  # FIN or RST
            if stream.mode in (_SIP, _WS) and (stream.buf.strip(b"\r\n") or stream.ws_msg):
                self._error("tcp_incomplete")
            elif stream.buf.strip(b"\r\n"):
                self._skip("tcp_non_sip")
            del streams[key]

    def _place(
        self, stream: _Stream, seq: int, data: bytes, ts: int, frame: int, out: list[Packet]
    ) -> None:
        diff = (seq - stream.next_seq) & 0xFFFFFFFF
        if diff >= 0x80000000:  # starts before what we have: retransmission or overlap
            behind = 0x100000000 - diff
            if behind >= len(data):
                self._skip("tcp_retransmission")
                return
            data = data[behind:]
            diff = 0
        if diff:
            if seq not in stream.pending:
                stream.pending[seq] = (data, ts)
                stream.pending_bytes += len(data)
            if (
                len(stream.pending) > _MAX_PENDING_SEGMENTS
                or stream.pending_bytes > _MAX_PENDING_BYTES
            ):
                self._give_up_gap(stream, frame, out)
            return
        self._append(stream, data, ts, frame, out)
        while stream.pending and self._drain(stream, frame, out):
            pass

    def _drain(self, stream: _Stream, frame: int, out: list[Packet]) -> bool:
        """Use the first pending segment that now follows; False when none does yet."""
        for seq, (data, ts) in stream.pending.items():
            diff = (seq - stream.next_seq) & 0xFFFFFFFF
            if diff == 0 or diff >= 0x80000000:
                del stream.pending[seq]
                stream.pending_bytes -= len(data)
                behind = (0x100000000 - diff) & 0xFFFFFFFF
                if behind < len(data):
                    self._append(stream, data[behind:], ts, frame, out)
                return True
        return False

    def _give_up_gap(self, stream: _Stream, frame: int, out: list[Packet]) -> None:
        """Bytes before the pending segments never came: skip to the first pending one."""
        self._error("tcp_gap")
        stream.buf.clear()
        stream.marks.clear()
        stream.ws_msg = None
        stream.mode = _PROBE
        first = min(stream.pending, key=lambda s: (s - stream.next_seq) & 0xFFFFFFFF)
        stream.base += (first - stream.next_seq) & 0xFFFFFFFF
        stream.next_seq = first
        while stream.pending and self._drain(stream, frame, out):
            pass

    def _append(self, stream: _Stream, data: bytes, ts: int, frame: int, out: list[Packet]) -> None:
        stream.marks.append((stream.base + len(stream.buf), ts))
        stream.buf += data
        stream.next_seq = (stream.next_seq + len(data)) & 0xFFFFFFFF
        mode = stream.mode
        if mode in (_PROBE, _SKIP_HTTP):
            mode = self._probe(stream)
        if mode == _SIP:
            self._sip(stream, frame, out)
        elif mode == _WS:
            self._websocket(stream, frame, out)

    def _consume(self, stream: _Stream, n: int) -> None:
        del stream.buf[:n]
        stream.base += n

    def _probe(self, stream: _Stream) -> int:
        """Decide what the stream carries from the bytes at its start; returns the mode."""
        buf = stream.buf
        lead = 0
        while lead < len(buf) and buf[lead] in (13, 10):
            lead += 1
        if lead:
            self._consume(stream, lead)
        if not buf:
            return stream.mode
        head = bytes(buf[:_MAX_HTTP_HEAD])
        if head.startswith((b"GET ", b"HTTP/1.1 101", b"HTTP/1.0 101")):
            end = head.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) >= _MAX_HTTP_HEAD:
                    return self._not_sip(stream)
                stream.mode = _SKIP_HTTP
                return _SKIP_HTTP
            if head.startswith(b"GET ") and not _UPGRADE.search(head, 0, end):
                return self._not_sip(stream)
            self._consume(stream, end + 4)
            stream.mode = _WS
            return _WS
        if is_sip(head):
            stream.mode = _SIP
            return _SIP
        if b"\n" not in head and len(head) < 64 and head.isascii():
            return stream.mode  # a start line may still be arriving
        return self._not_sip(stream)

    def _not_sip(self, stream: _Stream) -> int:
        self._skip("tcp_non_sip")
        stream.base += len(stream.buf)
        stream.buf.clear()
        stream.marks.clear()
        stream.mode = _PROBE
        return _PROBE

    def _sip(self, stream: _Stream, frame: int, out: list[Packet]) -> None:
        buf = stream.buf
        pos = 0
        try:
            while True:
                found = split_sip(buf, pos)
                if found is None:
                    break
                begin, end = found
                ts = stream.ts_at(stream.base + begin)
                out.append(
                    Packet(
                        ts, stream.src, stream.dst, "tcp", bytes(buf[begin:end]), None, None, frame
                    )
                )
                pos = end
        except FramingError:
            self._error("tcp_desync")
            self._not_sip(stream)
            return
        if pos:
            self._consume(stream, pos)

    def _websocket(self, stream: _Stream, frame: int, out: list[Packet]) -> None:
        buf = stream.buf
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            b0 = buf[pos]
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = _U16.unpack_from(buf, pos + 2)[0]
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = _U64.unpack_from(buf, pos + 2)[0]
                head = 10
            masked = b1 & 0x80
            if masked:
                head += 4
            if length > MAX_MESSAGE:
                self._error("ws_oversize")
                self._not_sip(stream)
                return
            if n - pos < head + length:
                break
            body = bytes(buf[pos + head : pos + head + length])
            if masked:
                body = _unmask(bytes(buf[pos + head - 4 : pos + head]), body)
            opcode = b0 & 0x0F
            start = stream.base + pos
            pos += head + length
            if opcode >= 8:
                continue  # close, ping, pong
            if b0 & 0x70:
                self._error("ws_extension")  # e.g. permessage-deflate: not decoded
                stream.ws_msg = None
                continue
            if opcode in (1, 2):
                stream.ws_msg = bytearray(body)
                stream.ws_ts = stream.ts_at(start)
            elif opcode == 0 and stream.ws_msg is not None:
                stream.ws_msg += body
                if len(stream.ws_msg) > MAX_MESSAGE:
                    self._error("ws_oversize")
                    stream.ws_msg = None
                    continue
            else:
                self._error("ws_bad_frame")
                continue
            if b0 & 0x80:  # FIN
                message = bytes(stream.ws_msg)
                stream.ws_msg = None
                if is_sip(message):
                    out.append(
                        Packet(
                            stream.ws_ts, stream.src, stream.dst, "ws", message, None, None, frame
                        )
                    )
                else:
                    self._skip("ws_non_sip")
        if pos:
            self._consume(stream, pos)


def _unmask(key: bytes, body: bytes) -> bytes:
    """XOR ``body`` with the repeated 4-byte masking ``key`` (RFC 6455 section 5.3)."""
    n = len(body)
    if not n:
        return body
    pad = key * (n // 4 + 1)
    value = int.from_bytes(body, "big") ^ int.from_bytes(pad[:n], "big")
    return value.to_bytes(n, "big")
