"""Datagrams the kernel dropped before callwatch read them: its receive buffer was full.

These never reach callwatch's own counters, so they are read from the kernel: for a UDP socket
the ``drops`` column of ``/proc/net/udp`` (and ``udp6``) on the socket's inode, for an
AF_PACKET socket ``PACKET_STATISTICS`` (which resets on each read, so :class:`PacketDrops`
keeps the running total). Linux only; elsewhere the figures are simply absent.
"""

from __future__ import annotations

import os
import socket
import struct
from pathlib import Path

_SOL_PACKET = 263
_PACKET_STATISTICS = 6
_TPACKET_STATS = struct.Struct("II")  # tp_packets, tp_drops


def udp_socket_drops(sock: socket.socket, proc_net: Path = Path("/proc/net")) -> int | None:
    """The kernel's drop count for UDP socket ``sock``; None when it cannot be read."""
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
    except OSError:
        return None
    for name in ("udp", "udp6"):
        try:
            lines = (proc_net / name).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # sl local rem st tx:rx tr:when retrnsmt uid timeout inode ref pointer drops
            if len(fields) >= 13 and fields[9] == inode:
                return int(fields[12])
    return None


class PacketDrops:
    """Running total of the frames the kernel dropped on an AF_PACKET socket."""

    def __init__(self) -> None:
        self.total = 0

    def read(self, sock: socket.socket) -> int | None:
        """Add what the kernel dropped since the last read; None when it cannot be read."""
        try:
            raw = sock.getsockopt(_SOL_PACKET, _PACKET_STATISTICS, _TPACKET_STATS.size)
        except OSError:
            return None
        self.total += _TPACKET_STATS.unpack(raw)[1]
        return self.total
