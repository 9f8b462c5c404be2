"""The live HEP source: a UDP socket on the asyncio loop that turns HEP datagrams into packets.

Timestamps come from the HEP packets, never from the time of receipt. A datagram from a source
outside ``allow``, with the wrong authentication key (checked before anything is inflated),
whose compressed payload inflates past the largest SIP message accepted, that does not decode,
or that carries something other than SIP is counted in the stats and dropped; nothing a sender
does makes the endpoint raise.

Under load the socket is drained in batches: each time the loop reports it readable, up to
:data:`DRAIN_BATCH` datagrams are read before the loop runs anything else (asyncio's own
datagram transport reads one per wake-up, paying a loop iteration per datagram); after each
batch the listener calls ``on_batch_end`` (the service writes its journal there, once per
batch).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable, Sequence
from typing import Any

from callwatch.capture.drops import udp_socket_drops
from callwatch.capture.hep import HEP_PORT, HepAuthError, HepTooLarge, decode_hep_packet
from callwatch.capture.packet import HepError, Packet
from callwatch.capture.stats import CaptureStats

log = logging.getLogger(__name__)

DRAIN_BATCH = 64
"""Datagrams read per wake-up at most, so a flood cannot starve the HTTP side of the loop."""
_MAX_DATAGRAM = 65_535

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class HepProtocol(asyncio.DatagramProtocol):
    """Decodes each datagram and hands the SIP packets to ``on_packet``."""

    def __init__(
        self,
        on_packet: Callable[[Packet], None],
        *,
        allow: Sequence[Network] | None = None,
        auth_key: bytes | None = None,
        stats: CaptureStats | None = None,
        on_batch_end: Callable[[], None] | None = None,
    ) -> None:
        self.on_packet = on_packet
        self.on_batch_end = on_batch_end
        self.allow = list(allow) if allow is not None else None
        self.auth_key = auth_key
        self.stats = stats if stats is not None else CaptureStats()
        self._allowed: dict[str, bool] = {}
        self._logged: set[str] = set()

    def _drop(self, kind: str, source: str, detail: str = "") -> None:
        self.stats.error(kind)
        if kind not in self._logged:
            self._logged.add(kind)
            log.warning(
                "HEP from %s dropped: %s%s (further ones counted only)",
                source,
                kind,
                f": {detail}" if detail else "",
            )

    def _is_allowed(self, host: str) -> bool:
        known = self._allowed.get(host)
        if known is None:
            try:
                address = ipaddress.ip_address(host.split("%", 1)[0])
            except ValueError:
                known = False
            else:
                known = any(address in network for network in self.allow or ())
            if len(self._allowed) > 4096:
                self._allowed.clear()
            self._allowed[host] = known
        return known

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        """Handle one datagram; never raises."""
        stats = self.stats
        stats.frames += 1
        stats.bytes += len(data)
        host = str(addr[0])
        if self.allow is not None and not self._is_allowed(host):
            self._drop("not_allowed", host)
            return
        try:
            packet = decode_hep_packet(data, auth_key=self.auth_key)
        except HepAuthError:
            self._drop("bad_auth_key", host)
            return
        except HepTooLarge as exc:
            self._drop("hep_too_large", host, str(exc))
            return
        except HepError as exc:
            self._drop("bad_hep", host, str(exc))
            return
        if packet is None:
            stats.skip("hep_non_sip")
            return
        stats.packets += 1
        try:
            self.on_packet(packet)
        except Exception:
            stats.error("on_packet_failed")
            log.exception("on_packet failed for a HEP packet from %s", host)

    def error_received(self, exc: Exception) -> None:
        """Count socket errors (for example ICMP port unreachable) and go on."""
        self.stats.error("socket_error")

    def batch_done(self) -> None:
        """The datagrams of one read are handled: call ``on_batch_end``; never raises."""
        if self.on_batch_end is not None:
            try:
                self.on_batch_end()
            except Exception:
                self.stats.error("on_batch_end_failed")
                log.exception("on_batch_end failed")


class HepListener:
    """A bound UDP socket read on the running loop; hands each datagram to its protocol.

    Offers the part of :class:`asyncio.DatagramTransport` the service uses: ``close``,
    ``is_closing``, ``get_extra_info("socket" | "sockname")`` and ``get_protocol``.
    """

    def __init__(
        self, sock: socket.socket, protocol: HepProtocol, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._sock = sock
        self._protocol = protocol
        self._loop = loop
        self._closing = False
        sock.setblocking(False)
        loop.add_reader(sock.fileno(), self._read_ready)

    def _read_ready(self) -> None:
        recvfrom = self._sock.recvfrom
        received = self._protocol.datagram_received
        for _ in range(DRAIN_BATCH):
            try:
                data, addr = recvfrom(_MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:  # e.g. ICMP port unreachable reported on the socket
                self._protocol.error_received(exc)
                continue
            received(data, addr)
        self._protocol.batch_done()

    def close(self) -> None:
        """Stop reading and close the socket (idempotent)."""
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()

    def is_closing(self) -> bool:
        return self._closing

    def kernel_drops(self) -> int | None:
        """Datagrams the kernel dropped on this socket (buffer full); None when unknown."""
        return None if self._closing else udp_socket_drops(self._sock)

    def get_protocol(self) -> HepProtocol:
        return self._protocol

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return self._sock
        if name == "sockname":
            return self._sock.getsockname() if not self._closing else default
        return default


async def start_hep_listener(
    on_packet: Callable[[Packet], None],
    host: str = "0.0.0.0",
    port: int = HEP_PORT,
    *,
    allow: Sequence[Network] | None = None,
    auth_key: bytes | None = None,
    stats: CaptureStats | None = None,
    on_batch_end: Callable[[], None] | None = None,
) -> tuple[HepListener, HepProtocol]:
    """Listen for HEP on UDP ``host``:``port``; returns the listener and its protocol.

    ``allow`` limits the sources accepted (None: any); ``auth_key`` requires HEP3 chunk 0x000e
    to equal it; ``on_batch_end`` is called after each batch of datagrams read. Close the
    listener to stop. Raises OSError when the address cannot be bound.
    """
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM)
    if not infos:
        raise OSError(f"cannot resolve {host!r}")
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    protocol = HepProtocol(
        on_packet, allow=allow, auth_key=auth_key, stats=stats, on_batch_end=on_batch_end
    )
    return HepListener(sock, protocol, loop), protocol
