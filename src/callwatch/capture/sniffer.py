"""The live mirror-port source: a Linux AF_PACKET raw socket filtered to the SIP ports.

For PBXs that cannot send HEP. The kernel runs a small classic BPF program (attached with
``SO_ATTACH_FILTER``) so only UDP and TCP to or from the SIP ports reach Python, IPv4 and IPv6;
IP fragments after the first carry no ports and are all let through so that
:class:`~callwatch.capture.decoder.FrameDecoder` can reassemble them (its reassembly drops what
never completes). Each frame's capture time is the kernel's receive time (``SO_TIMESTAMPNS``).

On the loopback interface every packet is seen twice, leaving and arriving; the leaving copy is
dropped, as libpcap does. Opening the socket needs root or the ``CAP_NET_RAW`` capability:
without it :class:`SnifferError` says how to grant it.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from callwatch.capture.decoder import FrameDecoder
from callwatch.capture.drops import PacketDrops
from callwatch.capture.packet import CaptureError, Packet
from callwatch.capture.stats import CaptureStats

ETH_P_ALL = 0x0003
SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
PACKET_OUTGOING = getattr(socket, "PACKET_OUTGOING", 4)
_ARPHRD_RAW_IP = {65534, 519, 776}  # NONE (tun), IEEE802.15.4 monitor... taken as raw IP
_LINKTYPE_ETHERNET = 1
_LINKTYPE_RAW = 101
_MAX_FRAME = 262_144
_BATCH = 256
_TIMESPEC = struct.Struct("@qq")
_SOCK_FILTER = struct.Struct("@HBBI")
_SOCK_FPROG = struct.Struct("@HP")  # struct sock_fprog: length, pointer (native alignment)

DEFAULT_SIP_PORTS = (5060, 5061)
MAX_PORTS = 100


class SnifferError(CaptureError):
    """The interface cannot be sniffed (no permission, no such interface, not Linux)."""


# -- classic BPF -------------------------------------------------------------------------

# opcodes (linux/filter.h): class | size | mode, class | op | source
_LD_H_ABS = 0x28
_LD_B_ABS = 0x30
_LD_H_IND = 0x48
_LDX_B_MSH = 0xB1
_JEQ_K = 0x15
_JSET_K = 0x45
_RET_K = 0x06

_ACCEPT = 0x0004_0000  # bytes of each frame kept: more than any frame
_DROP = 0


@dataclass(frozen=True, slots=True)
class _Insn:
    code: int
    k: int
    jt: str | int = 0  # a label or a relative offset
    jf: str | int = 0


def sip_filter(ports: Sequence[int] = DEFAULT_SIP_PORTS) -> list[tuple[int, int, int, int]]:
    """A classic BPF program, ``(code, jt, jf, k)`` rows, for Ethernet frames of SIP traffic.

    Keeps IPv4 and IPv6 UDP or TCP with a source or destination port in ``ports``, and IP
    fragments that carry no transport header (non-first IPv4 fragments, IPv6 fragment headers).
    """
    if not ports or len(ports) > MAX_PORTS or not all(0 < p < 65536 for p in ports):
        raise ValueError(f"SIP ports must be 1 to {MAX_PORTS} ports 1-65535, not {list(ports)!r}")
    prog: list[_Insn | str] = [
        _Insn(_LD_H_ABS, 12),  # ethertype
        _Insn(_JEQ_K, 0x0800, "ip4", 0),
        _Insn(_JEQ_K, 0x86DD, "ip6", 0),
        _Insn(_RET_K, _DROP),
        "ip4",
        _Insn(_LD_B_ABS, 23),  # protocol
        _Insn(_JEQ_K, 17, "ip4_l4", 0),
        _Insn(_JEQ_K, 6, "ip4_l4", "ip4_miss"),
        "ip4_l4",
        _Insn(_LD_H_ABS, 20),  # flags and fragment offset
        _Insn(_JSET_K, 0x1FFF, "ip4_hit", 0),  # a later fragment: no ports to look at
        _Insn(_LDX_B_MSH, 14),  # X = IPv4 header length
        *_ports_block("ip4", _LD_H_IND, 14, ports),
        "ip6",
        _Insn(_LD_B_ABS, 20),  # next header
        _Insn(_JEQ_K, 44, "ip6_hit", 0),  # fragment header
        _Insn(_JEQ_K, 17, "ip6_l4", 0),
        _Insn(_JEQ_K, 6, "ip6_l4", "ip6_miss"),
        "ip6_l4",
        *_ports_block("ip6", _LD_H_ABS, 54, ports),
    ]
    return _assemble(prog)


def _ports_block(name: str, load: int, offset: int, ports: Sequence[int]) -> list[_Insn | str]:
    """Load the source port, then the destination port (at ``offset`` + 2), and compare each
    with ``ports``; the block ends in its own accept and drop so every jump stays short."""
    hit, miss = f"{name}_hit", f"{name}_miss"
    block: list[_Insn | str] = []
    for field, last_miss in ((offset, 0), (offset + 2, miss)):
        block.append(_Insn(load, field))
        block.extend(_Insn(_JEQ_K, port, hit, 0) for port in ports[:-1])
        block.append(_Insn(_JEQ_K, ports[-1], hit, last_miss))
    return [*block, hit, _Insn(_RET_K, _ACCEPT), miss, _Insn(_RET_K, _DROP)]


def _assemble(prog: list[_Insn | str]) -> list[tuple[int, int, int, int]]:
    labels: dict[str, int] = {}
    insns: list[_Insn] = []
    for item in prog:
        if isinstance(item, str):
            labels[item] = len(insns)
        else:
            insns.append(item)
    out = []
    for pc, insn in enumerate(insns):
        jumps = []
        for target in (insn.jt, insn.jf):
            off = labels[target] - pc - 1 if isinstance(target, str) else target
            if not 0 <= off <= 255:
                raise ValueError(f"BPF jump of {off} from instruction {pc} does not fit")
            jumps.append(off)
        out.append((insn.code, jumps[0], jumps[1], insn.k))
    return out


def _attach(sock: socket.socket, program: list[tuple[int, int, int, int]]) -> None:
    import ctypes

    raw = b"".join(_SOCK_FILTER.pack(code, jt, jf, k) for code, jt, jf, k in program)
    buf = ctypes.create_string_buffer(raw, len(raw))
    fprog = _SOCK_FPROG.pack(len(program), ctypes.addressof(buf))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)


# -- the source --------------------------------------------------------------------------


class Sniffer:
    """An open AF_PACKET socket read from the event loop; :meth:`close` stops it."""

    def __init__(
        self,
        sock: socket.socket,
        interface: str,
        on_packet: Callable[[Packet], None],
        stats: CaptureStats,
        loopback: bool,
        on_batch_end: Callable[[], None] | None = None,
    ) -> None:
        self.sock = sock
        self.interface = interface
        self.on_packet = on_packet
        self.on_batch_end = on_batch_end
        self.stats = stats
        self.closed = False
        self._loopback = loopback
        self._decoder = FrameDecoder(stats, f"interface {interface}")
        self._cmsg = socket.CMSG_SPACE(_TIMESPEC.size)
        self._frame = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._drops = PacketDrops()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start reading in ``loop``."""
        self._loop = loop
        loop.add_reader(self.sock.fileno(), self.read_ready)

    def read_ready(self) -> None:
        """Read the frames waiting on the socket (a bounded batch); never raises."""
        out: list[Packet] = []
        for _ in range(_BATCH):
            try:
                data, ancdata, _flags, addr = self.sock.recvmsg(_MAX_FRAME, self._cmsg)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.stats.error("socket_error")
                break
            # addr: (ifname, proto, pkttype, hatype, hwaddr)
            if self._loopback and addr[2] == PACKET_OUTGOING:
                continue
            self._frame += 1
            self.stats.frames += 1
            self.stats.bytes += len(data)
            ts = _timestamp(ancdata)
            linktype = _LINKTYPE_RAW if addr[3] in _ARPHRD_RAW_IP else _LINKTYPE_ETHERNET
            self._decoder.decode(linktype, data, ts, self._frame, out)
        if not out:
            return
        self.stats.packets += len(out)
        for packet in out:
            try:
                self.on_packet(packet)
            except Exception:
                self.stats.error("on_packet_failed")
        if self.on_batch_end is not None:
            try:
                self.on_batch_end()
            except Exception:
                self.stats.error("on_batch_end_failed")

    def kernel_drops(self) -> int | None:
        """Frames the kernel dropped on this socket (buffer full); None when unknown."""
        return None if self.closed else self._drops.read(self.sock)

    def close(self) -> None:
        """Stop reading and close the socket."""
        if self.closed:
            return
        self.closed = True
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self.sock.fileno())
        self.sock.close()


def _timestamp(ancdata: list[tuple[int, int, bytes]]) -> int:
    for level, kind, body in ancdata:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(body) >= _TIMESPEC.size:
            sec, nsec = _TIMESPEC.unpack_from(body)
            return sec * 1_000_000 + nsec // 1000
    import time  # the kernel gave no stamp (should not happen): the next best capture time

    return time.time_ns() // 1000


def open_sniffer_socket(interface: str, ports: Sequence[int] = DEFAULT_SIP_PORTS) -> socket.socket:
    """An AF_PACKET socket bound to ``interface`` with the SIP filter and kernel timestamps.

    Raises :class:`SnifferError` with the remedy when it cannot be opened.
    """
    if not sys.platform.startswith("linux"):
        raise SnifferError("--interface needs Linux (AF_PACKET raw sockets); send HEP instead")
    program = sip_filter(ports)
    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    except PermissionError:
        exe = sys.executable
        raise SnifferError(
            f"sniffing {interface} needs root or CAP_NET_RAW: run as root, or grant it with "
            f"'setcap cap_net_raw+ep {exe}' (the Python binary callwatch runs under)"
        ) from None
    try:
        _attach(sock, program)  # before bind, so no unfiltered frame is queued
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        sock.bind((interface, ETH_P_ALL))
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        if exc.errno == 19:  # ENODEV
            raise SnifferError(f"no network interface named {interface!r}") from None
        raise SnifferError(f"cannot sniff {interface}: {exc.strerror or exc}") from None
    return sock


async def start_sniffer(
    on_packet: Callable[[Packet], None],
    interface: str,
    *,
    ports: Sequence[int] = DEFAULT_SIP_PORTS,
    stats: CaptureStats | None = None,
    on_batch_end: Callable[[], None] | None = None,
) -> Sniffer:
    """Sniff SIP on ``interface`` in the running loop, handing each packet to ``on_packet``
    and calling ``on_batch_end`` after each batch of frames read."""
    sock = open_sniffer_socket(interface, ports)
    loopback = _is_loopback(interface)
    sniffer = Sniffer(sock, interface, on_packet, stats or CaptureStats(), loopback, on_batch_end)
    sniffer.attach(asyncio.get_running_loop())
    return sniffer


def _is_loopback(interface: str) -> bool:
    try:
        with open(f"/sys/class/net/{interface}/type") as f:
            return f.read().strip() == "772"
    except OSError:
        return interface == "lo"
