"""The packet every capture source hands the core: one SIP message's bytes, as captured."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

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
        # each field goes straight through its slot's setter, not ``object.__setattr__``.
        # Keep in step with the fields above.
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


def _slot_setter(name: str) -> Callable[[Packet, Any], None]:
    """The setter of Packet's slot ``name``, which bypasses the frozen ``__setattr__``."""
    setter: Callable[[Packet, Any], None] = getattr(Packet, name).__set__
    return setter


_set_ts: Final = _slot_setter("ts")
_set_src: Final = _slot_setter("src")
_set_dst: Final = _slot_setter("dst")
_set_transport: Final = _slot_setter("transport")
_set_payload: Final = _slot_setter("payload")
_set_capture_id: Final = _slot_setter("capture_id")
_set_correlation_id: Final = _slot_setter("correlation_id")
_set_frame: Final = _slot_setter("frame")
