"""Capture-side helpers around the core's :class:`~callwatch.packet.Packet`: address text and
the capture error hierarchy."""

from __future__ import annotations

import socket
from typing import Final

from callwatch.packet import Address, Packet, PacketArgs

__all__ = [
    "Address",
    "CaptureError",
    "HepError",
    "Packet",
    "PacketArgs",
    "PcapError",
    "address_text",
]

_ADDRESS_TEXT: Final[dict[bytes, str]] = {}


def address_text(raw: bytes) -> str:
    """The text of a 4- or 16-byte IP address, remembered (a capture sees few addresses)."""
    text = _ADDRESS_TEXT.get(raw)
    if text is None:
        if len(_ADDRESS_TEXT) >= 65_536:
            _ADDRESS_TEXT.clear()
        family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
        text = _ADDRESS_TEXT[raw] = socket.inet_ntop(family, raw)
    return text


class CaptureError(Exception):
    """Base class of everything a capture decoder raises on bad input."""


class HepError(CaptureError):
    """A HEP packet that cannot be decoded (bad magic, truncated chunk, bad lengths)."""


class PcapError(CaptureError):
    """A capture file that cannot be read (not pcap/pcapng, truncated header, bad block)."""
