"""The live HEP source: an asyncio UDP endpoint that turns HEP datagrams into packets.

Timestamps come from the HEP packets, never from the time of receipt. A datagram from a source
outside ``allow``, with the wrong authentication key, that does not decode, or that carries
something other than SIP is counted in the stats and dropped; nothing a sender does makes the
endpoint raise.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from collections.abc import Callable, Sequence

from callwatch.capture.hep import HEP_PORT, HepAuthError, decode_hep_packet
from callwatch.capture.packet import HepError, Packet
from callwatch.capture.stats import CaptureStats

log = logging.getLogger(__name__)

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
    ) -> None:
        self.on_packet = on_packet
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


async def start_hep_listener(
    on_packet: Callable[[Packet], None],
    host: str = "0.0.0.0",
    port: int = HEP_PORT,
    *,
    allow: Sequence[Network] | None = None,
    auth_key: bytes | None = None,
    stats: CaptureStats | None = None,
) -> tuple[asyncio.DatagramTransport, HepProtocol]:
    """Listen for HEP on UDP ``host``:``port``; returns the transport and the protocol.

    ``allow`` limits the sources accepted (None: any); ``auth_key`` requires HEP3 chunk 0x000e
    to equal it. Close the transport to stop.
    """
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(
        lambda: HepProtocol(on_packet, allow=allow, auth_key=auth_key, stats=stats),
        local_addr=(host, port),
    )
    return transport, protocol
