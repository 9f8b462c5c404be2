"""pcapng files made from the frames of a real pcap, with chosen interface time settings
(``if_tsresol``, ``if_tsoffset``) and timestamps: the timestamps an attacker or a broken
capture tool may write."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from pathlib import Path


def pcap_frames(path: Path) -> Iterator[tuple[int, bytes]]:
    """The (µs timestamp, link-layer frame) records of a little-endian µs pcap file."""
    data = path.read_bytes()
    assert data[:4] == b"\xd4\xc3\xb2\xa1", "a little-endian microsecond pcap"
    pos = 24
    while pos + 16 <= len(data):
        sec, usec, caplen, _ = struct.unpack_from("<IIII", data, pos)
        yield sec * 1_000_000 + usec, data[pos + 16 : pos + 16 + caplen]
        pos += 16 + caplen


def _block(kind: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def pcapng_of(
    pcap: Path,
    target: Path,
    *,
    tsresol: int = 6,
    tsoffset: int | None = None,
    units: Callable[[int, int], int] | None = None,
) -> Path:
    """Write ``pcap``'s Ethernet frames to ``target`` as pcapng with one interface whose
    ``if_tsresol`` byte is ``tsresol`` and ``if_tsoffset`` (seconds) ``tsoffset``; ``units``
    maps (frame index, µs timestamp) to the 64-bit timestamp written (default: the time at
    that resolution)."""
    out = [_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))]
    options = struct.pack("<HH", 9, 1) + bytes([tsresol]) + b"\x00" * 3
    if tsoffset is not None:
        options += struct.pack("<HHq", 14, 8, tsoffset)
    options += bytes(4)
    out.append(_block(1, struct.pack("<HHI", 1, 0, 0) + options))
    for i, (ts, frame) in enumerate(pcap_frames(pcap)):
        value = units(i, ts) if units else ts * 10**tsresol // 1_000_000
        value &= (1 << 64) - 1
        head = struct.pack("<IIIII", 0, value >> 32, value & 0xFFFFFFFF, len(frame), len(frame))
        out.append(_block(6, head + frame))
    target.write_bytes(b"".join(out))
    return target
