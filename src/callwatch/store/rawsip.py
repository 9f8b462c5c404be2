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
        return cls.captured(
            packet.ts, packet.src, packet.dst, packet.transport, packet.payload, message
        )

    @classmethod
    def captured(
        cls,
        at: int,
        src: Address,
        dst: Address,
        transport: str,
        payload: bytes,
        message: SipMessage,
    ) -> RawMessage:
        """The raw message of a packet given by its parts (the first five of
        :meth:`Packet.args`), whose payload parsed as ``message``."""
        call_id = message.call_id
        return cls(
            at,
            src,
            dst,
            transport,
            call_id,
            payload.decode("utf-8", errors="replace"),
            f"{call_id};{message.from_.tag or ''}",
        )

    @property
    def first_line(self) -> str:
        """The request or status line."""
        return self.text.split("\n", 1)[0].rstrip("\r")

    @property
    def digest(self) -> str:
        """SHA-1 of the text: with ``at`` it identifies the message across capture agents."""
        return hashlib.sha1(self.text.encode("utf-8"), usedforsecurity=False).hexdigest()


_ADDRESS_TEXT: dict[Address, str] = {}


def address_text(addr: Address) -> str:
    """``host:port``, with IPv6 hosts in brackets (remembered: a capture sees few)."""
    text = _ADDRESS_TEXT.get(addr)
    if text is None:
        host, port = addr
        text = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        if len(_ADDRESS_TEXT) >= 65_536:
            _ADDRESS_TEXT.clear()
        _ADDRESS_TEXT[addr] = text
    return text
