"""The packet every capture source hands the core: one SIP message's bytes, as captured."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from callwatch.frozen import fast_init, slot_setter

MAX_MESSAGE: Final = 65_535
"""Largest SIP message accepted (headers and body), in bytes: what one UDP datagram or one
uncompressed HEP3 packet can carry at most. Streams, inflated HEP payloads and the parser
refuse longer ones (counted by the part that refused them)."""

Address = tuple[str, int]
"""An (IP address text, port) pair; IPv6 addresses without brackets."""

PacketArgs = tuple[int, Address, Address, str, bytes, int | None, bytes | None, int]
"""A :class:`Packet` as its constructor arguments (see :meth:`Packet.args`)."""


@dataclass(frozen=True, slots=True)
class Packet:
    """One SIP message's bytes as captured.

    ``ts`` is capture time in integer microseconds since the Unix epoch (UTC).
    ``transport`` is one of ``udp``, ``tcp``, ``tls``, ``sctp``, ``ws``, ``wss``.
    ``capture_id`` is the HEP capture agent id (None for pcap); ``correlation_id`` is HEP chunk
    0x0011 when the agent sent one. ``frame`` is the 1-based frame number in a capture file
    (0 for live packets) so errors can point at the frame a person can open in Wireshark.
    """

    ts: int
    src: Address
    dst: Address
    transport: str
    payload: bytes
    capture_id: int | None = None
    correlation_id: bytes | None = None
    frame: int = 0

    def __init__(
        self,
        ts: int,
        src: Address,
        dst: Address,
        transport: str,
        payload: bytes,
        capture_id: int | None = None,
        correlation_id: bytes | None = None,
        frame: int = 0,
    ) -> None:
        # What dataclass's frozen __init__ does, in about half the time (pure or compiled):
        # each field goes straight through its slot's setter (see callwatch.frozen).
        _set_ts(self, ts)
        _set_src(self, src)
        _set_dst(self, dst)
        _set_transport(self, transport)
        _set_payload(self, payload)
        _set_capture_id(self, capture_id)
        _set_correlation_id(self, correlation_id)
        _set_frame(self, frame)

    def args(self) -> PacketArgs:
        """The constructor arguments, ``Packet(*p.args()) == p``: a tuple of plain values,
        which the garbage collector stops tracking (a long queue of them costs it nothing)."""
        return (
            self.ts,
            self.src,
            self.dst,
            self.transport,
            self.payload,
            self.capture_id,
            self.correlation_id,
            self.frame,
        )

    def __reduce__(self) -> tuple[type[Packet], PacketArgs]:
        # Pickled by its constructor arguments: the default (set each slot on an empty object)
        # trips the frozen ``__setattr__`` once mypyc has compiled the class.
        return (Packet, self.args())


_set_ts: Final = slot_setter(Packet, "ts")
_set_src: Final = slot_setter(Packet, "src")
_set_dst: Final = slot_setter(Packet, "dst")
_set_transport: Final = slot_setter(Packet, "transport")
_set_payload: Final = slot_setter(Packet, "payload")
_set_capture_id: Final = slot_setter(Packet, "capture_id")
_set_correlation_id: Final = slot_setter(Packet, "correlation_id")
_set_frame: Final = slot_setter(Packet, "frame")

fast_init(Packet, Packet.__init__)
