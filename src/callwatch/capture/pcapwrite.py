"""Writing packets to a pcap file as Ethernet / IPv4 or IPv6 / UDP frames.

For tests, tools and benchmarks: each :class:`Packet` becomes one UDP datagram (whatever its
``transport``), IP-fragmented when it does not fit ``mtu``. Checksums are left 0 (legal for
UDP over IPv4; readers here do not check them).
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterable, Iterator
from typing import BinaryIO

from callwatch.capture.packet import Packet

LINKTYPE_ETHERNET = 1

_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_ETH_V4 = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00"
_ETH_V6 = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x86\xdd"
_IPV4 = struct.Struct("!BBHHHBBH4s4s")
_IPV6 = struct.Struct("!IHBB16s16s")
_UDP = struct.Struct("!HHHH")
_FRAG6 = struct.Struct("!BBHI")


def write_pcap(
    target: str | os.PathLike[str] | BinaryIO, packets: Iterable[Packet], *, mtu: int = 1500
) -> int:
    """Write ``packets`` to ``target`` (a path or binary file); returns the frames written."""
    if isinstance(target, (str, os.PathLike)):
        with open(target, "wb") as f:
            return write_pcap(f, packets, mtu=mtu)
    target.write(_FILE_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, 262_144, LINKTYPE_ETHERNET))
    count = 0
    ident = 0
    write = target.write
    for packet in packets:
        ident = (ident + 1) & 0xFFFF
        sec, usec = divmod(packet.ts, 1_000_000)
        for frame in _frames(packet, mtu, ident):
            write(_RECORD.pack(sec, usec, len(frame), len(frame)))
            write(frame)
            count += 1
    return count


def _frames(packet: Packet, mtu: int, ident: int) -> Iterator[bytes]:
    """The Ethernet frames that carry ``packet`` as UDP, fragmented to fit ``mtu``."""
    (src, sport), (dst, dport) = packet.src, packet.dst
    udp = _UDP.pack(sport, dport, 8 + len(packet.payload), 0) + packet.payload
    if ":" in src:
        yield from _ipv6(
            socket.inet_pton(socket.AF_INET6, src),
            socket.inet_pton(socket.AF_INET6, dst),
            udp,
            mtu,
            ident,
        )
    else:
        yield from _ipv4(socket.inet_aton(src), socket.inet_aton(dst), udp, mtu, ident)


def _ipv4(src: bytes, dst: bytes, udp: bytes, mtu: int, ident: int) -> Iterator[bytes]:
    room = max(8, (mtu - 20) // 8 * 8)
    for offset in range(0, len(udp), room):
        piece = udp[offset : offset + room]
        more = 0x2000 if offset + room < len(udp) else 0
        head = _IPV4.pack(0x45, 0, 20 + len(piece), ident, more | offset // 8, 64, 17, 0, src, dst)
        yield _ETH_V4 + head + piece


def _ipv6(src: bytes, dst: bytes, udp: bytes, mtu: int, ident: int) -> Iterator[bytes]:
    if 40 + len(udp) <= mtu:
        yield _ETH_V6 + _IPV6.pack(0x60000000, len(udp), 17, 64, src, dst) + udp
        return
    room = max(8, (mtu - 48) // 8 * 8)
    for offset in range(0, len(udp), room):
        piece = udp[offset : offset + room]
        more = 1 if offset + room < len(udp) else 0
        frag = _FRAG6.pack(17, 0, offset | more, ident)
        yield _ETH_V6 + _IPV6.pack(0x60000000, 8 + len(piece), 44, 64, src, dst) + frag + piece
