"""A raw SIP message as kept for the ladder view of a call."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from callwatch.capture.packet import Address, Packet
from callwatch.sip.message import SipMessage


@dataclass(frozen=True, slots=True)
class RawMessage:
    """One captured SIP message: capture time (µs), addresses, transport, the leg key
    (``<Call-ID>;<From tag>``, as the dialog tracker names legs), the Call-ID and the text."""

    at: int
    src: Address
    dst: Address
    transport: str
    call_id: str
    text: str
    leg: str | None = None

    @classmethod
    def from_packet(cls, packet: Packet, message: SipMessage) -> RawMessage:
        """The raw message of ``packet``, which parsed as ``message``."""
        return cls(
            at=packet.ts,
            src=packet.src,
            dst=packet.dst,
            transport=packet.transport,
            call_id=message.call_id,
            text=packet.payload.decode("utf-8", errors="replace"),
            leg=f"{message.call_id};{message.from_.tag or ''}",
        )

    @property
    def first_line(self) -> str:
        """The request or status line."""
        return self.text.split("\n", 1)[0].rstrip("\r")

    @property
    def digest(self) -> str:
        """SHA-1 of the text: with ``at`` it identifies the message across capture agents."""
        return hashlib.sha1(self.text.encode("utf-8"), usedforsecurity=False).hexdigest()


def address_text(addr: Address) -> str:
    """``host:port``, with IPv6 hosts in brackets."""
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
