"""IP fragment reassembly (IPv4 and IPv6), bounded in memory and timed out by capture time.

Fragments are keyed as the RFCs say: IPv4 by (source, destination, protocol, identification)
(RFC 791), IPv6 by (source, destination, identification) (RFC 8200). A datagram is complete
when its pieces cover every byte from 0 to the end given by the last fragment; overlapping or
repeated pieces are accepted, the first copy of each byte wins. A datagram older than
``timeout_us`` of capture time when another fragment arrives is dropped, and so is the oldest
when more than ``max_datagrams`` are pending.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

MAX_DATAGRAM = 65_535 + 40
"""Largest reassembled datagram accepted (IPv4 maximum plus room for an IPv6 header)."""


class _Pending:
    __slots__ = ("first_ts", "parts", "proto", "size", "total")

    def __init__(self, ts: int) -> None:
        self.first_ts = ts
        self.parts: dict[int, bytes] = {}
        self.total: int | None = None
        self.size = 0
        self.proto = -1


class IpFragments:
    """Holds fragments until their datagram is whole.

    ``on_error(kind)`` is called for ``frag_timeout``, ``frag_overflow`` and ``bad_fragment``.
    """

    def __init__(
        self,
        on_error: Callable[[str], None],
        *,
        timeout_us: int = 30_000_000,
        max_datagrams: int = 1024,
        max_parts: int = 128,
    ) -> None:
        self._pending: dict[Hashable, _Pending] = {}
        self._on_error = on_error
        self._timeout = timeout_us
        self._max_datagrams = max_datagrams
        self._max_parts = max_parts

    def __len__(self) -> int:
        return len(self._pending)

    def add(
        self, key: Hashable, offset: int, more: bool, data: bytes, ts: int, proto: int = -1
    ) -> tuple[bytes, int, int] | None:
        """Add one fragment; return ``(datagram, first_ts, proto)`` once the datagram is whole.

        ``first_ts`` is the capture time of the first fragment seen of that datagram;
        ``proto`` is the ``proto`` given with the fragment at offset 0 (IPv6 next header).
        """
        pending = self._pending
        self._expire(ts)
        entry = pending.get(key)
        if entry is None:
            if len(pending) >= self._max_datagrams:
                del pending[next(iter(pending))]
                self._on_error("frag_overflow")
            entry = pending[key] = _Pending(ts)
        end = offset + len(data)
        if end > MAX_DATAGRAM or len(entry.parts) >= self._max_parts:
            del pending[key]
            self._on_error("bad_fragment")
            return None
        if offset not in entry.parts or len(entry.parts[offset]) < len(data):
            entry.parts[offset] = data
        if offset == 0:
            entry.proto = proto
        if not more:
            entry.total = end
        if entry.total is None:
            return None
        whole = _assemble(entry.parts, entry.total)
        if whole is None:
            return None
        del pending[key]
        return whole, entry.first_ts, entry.proto

    def _expire(self, now: int) -> None:
        pending = self._pending
        limit = now - self._timeout
        while pending:
            key = next(iter(pending))
            if pending[key].first_ts >= limit:
                break
            del pending[key]
            self._on_error("frag_timeout")


def _assemble(parts: dict[int, bytes], total: int) -> bytes | None:
    if len(parts) == 2:
        # the common case: two pieces that meet exactly
        first, second = sorted(parts)
        head = parts[first]
        if first == 0 and len(head) == second and second + len(parts[second]) == total:
            return head + parts[second]
    out = bytearray()
    pos = 0
    for offset in sorted(parts):
        if offset > pos:
            return None
        piece = parts[offset]
        if offset + len(piece) > pos:
            out += piece[pos - offset :]
            pos = offset + len(piece)
        if pos >= total:
            return bytes(out[:total])
    return None
