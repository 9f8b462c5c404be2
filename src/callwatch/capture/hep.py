"""HEP (Homer Encapsulation Protocol) version 3, 2 and 1: decoding, and encoding version 3.

HEPv3 (``HEP3`` magic, then a 16-bit total length and chunks of vendor id, type id and length,
all big-endian) carries the generic chunks of the HEP3 specification, vendor id 0:

====== ==========================  ====== ==========================
0x0001 IP family (2 v4, 10 v6)     0x000b protocol type (1 = SIP)
0x0002 IP protocol id              0x000c capture agent id (uint32)
0x0003 IPv4 source                 0x000d keep-alive timer (uint16)
0x0004 IPv4 destination            0x000e authentication key
0x0005 IPv6 source                 0x000f payload
0x0006 IPv6 destination            0x0010 compressed payload (gzip/zlib)
0x0007 source port                 0x0011 correlation id
0x0008 destination port            0x0012 VLAN id (uint16)
0x0009 timestamp seconds           0x0013 capture agent name
0x000a timestamp microseconds
====== ==========================  ====== ==========================

Vendor chunks (vendor id not 0) and unknown chunk types are skipped.

HEPv1/v2 (Kamailio ``siptrace`` and captagent before HEP3): an 8-byte header of version, header
length, address family, IP protocol and the two ports (big-endian), the addresses (2 x 4 or
2 x 16 bytes), then for version 2 a ``struct timeval``-like block of seconds, microseconds
(little-endian, as Kamailio writes them) and a 16-bit capture id, padded to 12 bytes by the C
compiler, then the payload.
"""

from __future__ import annotations

import re
import socket
import struct
import zlib
from dataclasses import dataclass
from typing import Any, Final

from callwatch.capture.framing import is_sip
from callwatch.capture.packet import HepError, Packet, address_text
from callwatch.packet import MAX_MESSAGE

HEP_PORT = 9060
"""The port HEP agents send to by default."""

PROTO_SIP = 1
"""HEP protocol type of SIP payloads (chunk 0x000b)."""

PROTO_TYPES = {
    1: "SIP",
    2: "XMPP",
    3: "SDP",
    4: "RTP",
    5: "RTCP",
    6: "MGCP",
    7: "MEGACO",
    8: "M2UA",
    9: "M3UA",
    10: "IAX",
    11: "H322",
    12: "H321",
    32: "RTCP-JSON",
    34: "QoS report",
    53: "DNS",
    100: "LOG",
}
"""Names of HEP protocol types, for messages."""

_TRANSPORTS: Final = {6: "tcp", 17: "udp", 22: "tls", 132: "sctp"}
# Kamailio marks TLS, WS and WSS with IP protocol 22 (IDP); callwatch's encoder does the same.
_IP_PROTOS: Final = {"udp": 17, "tcp": 6, "sctp": 132, "tls": 22, "ws": 22, "wss": 22}

_CHUNK: Final = struct.Struct("!HHH")
_U8: Final = struct.Struct("!B")
_U16: Final = struct.Struct("!H")
_U32: Final = struct.Struct("!I")
_V12_HEAD: Final = struct.Struct("!BBBBHH")
_V2_TIME_LE: Final = struct.Struct("<IIH")
_V2_TIME_BE: Final = struct.Struct(">IIH")

_AF_INET: Final = 2
_AF_INET6: Final = {10, 24, 28, 30}  # Linux, NetBSD/OpenBSD, FreeBSD, macOS


@dataclass(frozen=True, slots=True)
class HepMessage:
    """Every field a HEP packet can carry; None where the packet did not carry it."""

    version: int
    ip_family: int | None = None
    ip_proto: int | None = None
    src_ip: str | None = None
    dst_ip: str | None = None
    src_port: int | None = None
    dst_port: int | None = None
    ts_sec: int | None = None
    ts_usec: int | None = None
    proto_type: int | None = None
    capture_id: int | None = None
    keep_alive: int | None = None
    auth_key: bytes | None = None
    payload: bytes | None = None
    compressed: bool = False
    correlation_id: bytes | None = None
    vlan: int | None = None
    capture_name: str | None = None

    def __reduce__(self) -> tuple[type[HepMessage], tuple[object, ...]]:
        # Pickled by its constructor arguments, as Packet is: the default trips the frozen
        # ``__setattr__`` once mypyc has compiled the class.
        return (HepMessage, (self.version, *[getattr(self, name) for name in _FIELDS]))

    @property
    def ts(self) -> int | None:
        """Capture time in microseconds since the epoch, or None without a timestamp."""
        if self.ts_sec is None:
            return None
        return self.ts_sec * 1_000_000 + (self.ts_usec or 0)

    @property
    def is_sip(self) -> bool:
        """True when the packet says it carries SIP (or, HEPv1/v2, says nothing)."""
        return self.proto_type is None or self.proto_type == PROTO_SIP


def decode_hep(
    data: bytes | bytearray | memoryview, *, auth_key: bytes | None = None
) -> HepMessage:
    """Decode one HEP packet (version 3, 2 or 1, told apart by its first bytes).

    Raises :class:`HepError` naming what is wrong: too short, bad magic or version, a length
    past the end of the data, a chunk of the wrong size, a payload that does not decompress;
    :class:`HepTooLarge` for a compressed payload that inflates past
    :data:`~callwatch.packet.MAX_MESSAGE` bytes. With ``auth_key``, raises
    :class:`HepAuthError` when the packet's key (chunk 0x000e) differs, before a compressed
    payload is inflated: a sender without the key costs no inflation.
    """
    data = bytes(data)
    if data[:4] == b"HEP3":
        f = _fields_v3(data)
        if auth_key is not None and f[_AUTH_KEY] != auth_key:
            raise HepAuthError("HEP packet has a wrong or no authentication key")
        if f[_COMPRESSED]:
            f[_PAYLOAD] = inflate_payload(f[_PAYLOAD])
        return HepMessage(3, *f)
    if data[:1] in (b"\x01", b"\x02"):
        msg = _decode_v12(data)
        if auth_key is not None:  # HEPv1/v2 carry no key
            raise HepAuthError("HEP packet has a wrong or no authentication key")
        return msg
    if not data:
        raise HepError("empty HEP packet")
    raise HepError(f"not a HEP packet: starts with {data[:4].hex(' ')}")


def decode_hep_packet(
    data: bytes | bytearray | memoryview, *, auth_key: bytes | None = None, frame: int = 0
) -> Packet | None:
    """Decode one HEP packet straight to a :class:`Packet` (the live path's shortcut).

    The same as :func:`decode_hep` then :func:`hep_to_packet`, with the same checks and
    messages, without building the :class:`HepMessage`. Returns None when the packet carries
    a protocol other than SIP. Raises :class:`HepAuthError` when ``auth_key`` is given and
    the packet's key (chunk 0x000e) differs (checked before a compressed payload is
    inflated), :class:`HepTooLarge` for a payload inflating past
    :data:`~callwatch.packet.MAX_MESSAGE` bytes, :class:`HepError` for anything else.
    """
    raw = data if type(data) is bytes else bytes(data)  # bytes(raw) is raw, but costs a call
    # Fast path: the ten fixed-size generic chunks in the order Kamailio (and encode_hep3) or
    # Asterisk and captagent send them, checked by one regex and read by one unpack; then
    # the variable chunks. Anything unusual goes to _decode_packet, which decides it afresh.
    m = _COMMON_PREFIX.match(raw)
    if m is None:
        return _decode_packet(raw, auth_key, frame)
    total = (raw[4] << 8) | raw[5]
    if total > len(raw):
        return _decode_packet(raw, auth_key, frame)
    layout = m.lastindex
    proto: int
    sport: int
    dport: int
    sec: int
    usec: int
    ptype: int
    capture_id: int
    src: bytes
    dst: bytes
    if layout == 1:
        pos = _V4_END
        proto, src, dst, sport, dport, sec, usec, ptype, capture_id = _KAMAILIO_V4(raw)
    elif layout == 2:
        pos = _V6_END
        proto, src, dst, sport, dport, sec, usec, ptype, capture_id = _KAMAILIO_V6(raw)
    elif layout == 3:
        pos = _V4_END
        proto, sport, dport, sec, usec, ptype, capture_id, src, dst = _ASTERISK_V4(raw)
    else:
        pos = _V6_END
        proto, sport, dport, sec, usec, ptype, capture_id, src, dst = _ASTERISK_V6(raw)
    if total < pos:
        return _decode_packet(raw, auth_key, frame)
    payload: bytes | None = None
    zipped = False  # the payload is chunk 0x0010's, to be inflated once the key is checked
    key: bytes | None = None
    correlation_id: bytes | None = None
    header = _CHUNK_HEADER
    while pos < total:
        if total - pos < 6:
            return _decode_packet(raw, auth_key, frame)
        kind, length = header(raw, pos)  # kind: vendor id << 16 | type id
        end = pos + length
        if length < 6 or end > total:
            return _decode_packet(raw, auth_key, frame)
        if kind == 0x000F:
            payload = raw[pos + 6 : end]
            zipped = False
        elif kind == 0x0011:
            correlation_id = raw[pos + 6 : end]
        elif kind == 0x000E:
            key = raw[pos + 6 : end].rstrip(b"\x00")
        elif kind == 0x0010:
            payload = raw[pos + 6 : end]
            zipped = True
        elif 0 < kind < 0x0013:
            return _decode_packet(raw, auth_key, frame)  # a fixed-size chunk again
        # vendor chunks and other generic ones (agent name, unknown types) mean nothing here
        pos = end
    if auth_key is not None and key != auth_key:
        raise HepAuthError("HEP packet has a wrong or no authentication key")
    if zipped and payload is not None:
        payload = inflate_payload(payload)  # raises as _decode_packet would here
    if ptype != PROTO_SIP:
        return None
    if payload is None:
        return _decode_packet(raw, auth_key, frame)  # raises, naming what is missing
    return Packet(
        sec * 1_000_000 + usec,
        (address_text(src), sport),
        (address_text(dst), dport),
        _TRANSPORT_OF_PROTO[proto],
        payload,
        capture_id,
        correlation_id,
        frame,
    )


def _decode_packet(data: bytes, auth_key: bytes | None, frame: int) -> Packet | None:
    """decode_hep_packet for any packet: every chunk order, every version, every error."""
    if data[:4] != b"HEP3":
        msg = decode_hep(data, auth_key=auth_key)
        return hep_to_packet(msg, frame=frame) if msg.is_sip else None
    f = _fields_v3(data)
    if auth_key is not None and f[_AUTH_KEY] != auth_key:
        raise HepAuthError("HEP packet has a wrong or no authentication key")
    if f[_COMPRESSED]:
        f[_PAYLOAD] = inflate_payload(f[_PAYLOAD])
    proto = f[_PROTO_TYPE]
    if proto is not None and proto != PROTO_SIP:
        return None
    src_ip, dst_ip, src_port, dst_port, sec, usec = f[_SRC_IP : _TS_USEC + 1]
    payload = f[_PAYLOAD]
    if (
        src_ip is None
        or dst_ip is None
        or src_port is None
        or dst_port is None
        or sec is None
        or payload is None
    ):
        return hep_to_packet(HepMessage(3, *f), frame=frame)  # raises, naming what is missing
    return Packet(
        sec * 1_000_000 + (usec or 0),
        (src_ip, src_port),
        (dst_ip, dst_port),
        _TRANSPORTS.get(f[_IP_PROTO] or 17, "udp"),
        payload,
        f[_CAPTURE_ID],
        f[_CORRELATION_ID],
        frame,
    )


def _prefix(*chunks: tuple[int, int]) -> bytes:
    """A regex matching generic chunks of these (type, body size), any body bytes."""
    # ``....`` matches faster than ``.{4}``
    return b"".join(
        [re.escape(_CHUNK.pack(0, kind, 6 + size)) + b"." * size for kind, size in chunks]
    )


class HepAuthError(HepError):
    """A HEP packet whose authentication key is not the one required."""


class HepTooLarge(HepError):
    """A HEP packet whose compressed payload inflates past the largest SIP message accepted."""


# HepMessage's fields after ``version``, in order: _fields_v3 fills a list of them.
_FIELDS: Final = (
    "ip_family",
    "ip_proto",
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "ts_sec",
    "ts_usec",
    "proto_type",
    "capture_id",
    "keep_alive",
    "auth_key",
    "payload",
    "compressed",
    "correlation_id",
    "vlan",
    "capture_name",
)
_IP_PROTO: Final = 1
_SRC_IP: Final = 2
_TS_USEC: Final = 7
_PROTO_TYPE: Final = 8
_CAPTURE_ID: Final = 9
_AUTH_KEY: Final = 11
_PAYLOAD: Final = 12
_COMPRESSED: Final = 13
_CORRELATION_ID: Final = 14
_CAPTURE_NAME: Final = 16
_CAPTURE_ID_CHUNK: Final = 0x000C

_CHUNK_NAMES: Final = {
    0x0001: "IP family",
    0x0002: "IP protocol id",
    0x0003: "IPv4 source",
    0x0004: "IPv4 destination",
    0x0005: "IPv6 source",
    0x0006: "IPv6 destination",
    0x0007: "source port",
    0x0008: "destination port",
    0x0009: "timestamp seconds",
    0x000A: "timestamp microseconds",
    0x000B: "protocol type",
    0x000C: "capture agent id",
    0x000D: "keep-alive timer",
    0x0012: "VLAN id",
}
_INT_STRUCTS: Final = {1: _U8, 2: _U16, 4: _U32}
# chunk type -> (field index, body length + 6, Struct); the value is an unsigned big-endian int
_INT_CHUNKS: Final = {
    kind: (_FIELDS.index(name), size + 6, _INT_STRUCTS[size])
    for kind, name, size in (
        (0x0001, "ip_family", 1),
        (0x0002, "ip_proto", 1),
        (0x0007, "src_port", 2),
        (0x0008, "dst_port", 2),
        (0x0009, "ts_sec", 4),
        (0x000A, "ts_usec", 4),
        (0x000B, "proto_type", 1),
        (0x000C, "capture_id", 4),
        (0x000D, "keep_alive", 2),
        (0x0012, "vlan", 2),
    )
}
# chunk type -> (field index, body length + 6, address family)
_ADDR_CHUNKS: Final = {
    0x0003: (_SRC_IP, 4 + 6, socket.AF_INET),
    0x0004: (_SRC_IP + 1, 4 + 6, socket.AF_INET),
    0x0005: (_SRC_IP, 16 + 6, socket.AF_INET6),
    0x0006: (_SRC_IP + 1, 16 + 6, socket.AF_INET6),
}


_GENERIC: Final = ((0x0007, 2), (0x0008, 2), (0x0009, 4), (0x000A, 4), (0x000B, 1), (0x000C, 4))
_V4: Final = ((0x0003, 4), (0x0004, 4))
_V6: Final = ((0x0005, 16), (0x0006, 16))
_FAMILY: Final = ((0x0001, 1), (0x0002, 1))
# Kamailio siptrace and encode_hep3: family, protocol, addresses, ports, time, type, agent id;
# Asterisk res_hep and captagent: the addresses after the agent id. Group n tells layout n.
_COMMON_PREFIX: Final = re.compile(
    b"HEP3..(?:"
    + b"()|".join(
        (
            _prefix(*_FAMILY, *_V4, *_GENERIC),
            _prefix(*_FAMILY, *_V6, *_GENERIC),
            _prefix(*_FAMILY, *_GENERIC, *_V4),
            _prefix(*_FAMILY, *_GENERIC, *_V6),
        )
    )
    + b"())",
    re.DOTALL,
)
# ip protocol, addresses, ports, seconds, microseconds, protocol type, capture agent id
_KAMAILIO_V4: Final = struct.Struct("!19xB6x4s6x4s6xH6xH6xI6xI6xB6xI").unpack_from
_KAMAILIO_V6: Final = struct.Struct("!19xB6x16s6x16s6xH6xH6xI6xI6xB6xI").unpack_from
# ip protocol, ports, seconds, microseconds, protocol type, capture agent id, addresses
_ASTERISK_V4: Final = struct.Struct("!19xB6xH6xH6xI6xI6xB6xI6x4s6x4s").unpack_from
_ASTERISK_V6: Final = struct.Struct("!19xB6xH6xH6xI6xI6xB6xI6x16s6x16s").unpack_from
_V4_END: Final = 93  # where the ten chunks end: 6 + 10 chunk headers + 27 value bytes
_V6_END: Final = 117
_CHUNK_HEADER: Final = struct.Struct("!IH").unpack_from  # vendor and type id as one
_TRANSPORT_OF_PROTO: Final = tuple([_TRANSPORTS.get(p or 17, "udp") for p in range(256)])


def _fields_v3(data: bytes) -> list[Any]:
    """The values of HepMessage's fields after ``version``, in :data:`_FIELDS` order; a
    compressed payload (``compressed`` True) is left as sent, for the caller to inflate once
    it has checked the key."""
    size = len(data)
    if size < 6:
        raise HepError(f"HEP3 packet of {size} bytes is shorter than its 6-byte header")
    total = _U16.unpack_from(data, 4)[0]
    if total < 6:
        raise HepError(f"HEP3 total length {total} is shorter than its 6-byte header")
    if total > size:
        raise HepError(f"HEP3 packet truncated: length says {total} bytes, got {size}")
    f: list[Any] = [None] * len(_FIELDS)  # each slot holds its HepMessage field's type
    f[_COMPRESSED] = False
    header = _CHUNK.unpack_from
    ints = _INT_CHUNKS.get
    addrs = _ADDR_CHUNKS.get
    pos = 6
    while pos < total:
        if total - pos < 6:
            raise HepError(f"HEP3 chunk header truncated at offset {pos}")
        vendor, kind, length = header(data, pos)
        if length < 6:
            raise HepError(f"HEP3 chunk 0x{kind:04x} at offset {pos} has bad length {length}")
        end = pos + length
        if end > total:
            raise HepError(
                f"HEP3 chunk 0x{kind:04x} at offset {pos} runs {end - total} bytes past the end"
            )
        if vendor == 0:
            spec = ints(kind)
            if spec is not None:
                index, want, unpack = spec
                if length == want:
                    f[index] = unpack.unpack_from(data, pos + 6)[0]
                # capture agent id is 32 bits in the spec; some agents send 16.
                elif kind == _CAPTURE_ID_CHUNK and length == 8:
                    f[index] = _U16.unpack_from(data, pos + 6)[0]
                else:
                    raise _size_error(kind, length - 6, want - 6)
            elif kind == 0x000F:
                f[_PAYLOAD] = data[pos + 6 : end]
                f[_COMPRESSED] = False
            else:
                addr = addrs(kind)
                if addr is not None:
                    index, want, family = addr
                    if length != want:
                        raise _size_error(kind, length - 6, want - 6)
                    f[index] = socket.inet_ntop(family, data[pos + 6 : end])
                else:
                    _other_chunk(f, kind, data[pos + 6 : end])
        pos = end
    return f


def _size_error(kind: int, got: int, want: int) -> HepError:
    return HepError(
        f"HEP3 chunk 0x{kind:04x} ({_CHUNK_NAMES[kind]}) has {got} bytes, expected {want}"
    )


def _other_chunk(f: list[Any], kind: int, body: bytes) -> None:
    if kind == 0x0010:
        f[_PAYLOAD] = body
        f[_COMPRESSED] = True
    elif kind == 0x000E:
        f[_AUTH_KEY] = body.rstrip(b"\x00")
    elif kind == 0x0011:
        f[_CORRELATION_ID] = body
    elif kind == 0x0013:
        f[_CAPTURE_NAME] = body.rstrip(b"\x00").decode("utf-8", "replace")


def inflate_payload(body: bytes, limit: int = MAX_MESSAGE) -> bytes:
    """Inflate a compressed HEP3 payload (zlib or gzip), refusing to produce more than
    ``limit`` bytes: :class:`HepTooLarge` past it, whatever the compressed size, so a small
    packet cannot make the decoder allocate or parse more than one SIP message's worth.
    Raises :class:`HepError` for data that does not decompress or is cut short."""
    inflater = zlib.decompressobj(wbits=47)  # zlib or gzip header, told apart by the data
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise HepError(f"HEP3 compressed payload does not decompress: {exc}") from None
    if len(out) > limit:
        raise HepTooLarge(
            f"HEP3 compressed payload of {len(body):,} bytes inflates past {limit:,} bytes"
        )
    if not inflater.eof:
        raise HepError("HEP3 compressed payload is truncated")
    return out


def _decode_v12(data: bytes) -> HepMessage:
    if len(data) < 8:
        raise HepError(f"HEPv{data[0]} packet of {len(data)} bytes is shorter than its header")
    version, head_len, family, proto, sport, dport = _V12_HEAD.unpack_from(data)
    if family == _AF_INET:
        af, size = socket.AF_INET, 4
    elif family in _AF_INET6:
        af, size = socket.AF_INET6, 16
    else:
        raise HepError(f"HEPv{version} packet has unknown address family {family}")
    if head_len != 8 + 2 * size:
        raise HepError(f"HEPv{version} header length {head_len} does not fit family {family}")
    if len(data) < head_len:
        raise HepError(f"HEPv{version} packet truncated inside its addresses")
    src = socket.inet_ntop(af, data[8 : 8 + size])
    dst = socket.inet_ntop(af, data[8 + size : head_len])
    ts_sec: int | None = None
    ts_usec: int | None = None
    capture_id: int | None = None
    start = head_len
    if version == 2:
        if len(data) < head_len + 10:
            raise HepError("HEPv2 packet truncated inside its time header")
        sec, usec, capture = _V2_TIME_LE.unpack_from(data, head_len)
        if usec >= 1_000_000:
            sec, usec, capture = _V2_TIME_BE.unpack_from(data, head_len)
            if usec >= 1_000_000:
                raise HepError(f"HEPv2 microseconds field out of range: {usec}")
        ts_sec, ts_usec, capture_id = sec, usec, capture
        # The C struct is 10 bytes of fields padded to 12; take the packed layout only when
        # a SIP start line sits right after the 10 bytes.
        start = head_len + (10 if is_sip(data[head_len + 10 : head_len + 300]) else 12)
    return HepMessage(
        version=version,
        ip_family=family,
        ip_proto=proto,
        src_ip=src,
        dst_ip=dst,
        src_port=sport,
        dst_port=dport,
        payload=data[start:],
        ts_sec=ts_sec,
        ts_usec=ts_usec,
        capture_id=capture_id,
    )


def hep_to_packet(msg: HepMessage, *, frame: int = 0) -> Packet:
    """Turn a decoded HEP message carrying SIP into a :class:`Packet`.

    The transport comes from the IP protocol id (6 tcp, 17 udp, 132 sctp, 22 tls: Kamailio's
    mark for TLS and WebSocket). Raises :class:`HepError` when the message carries another
    protocol type or lacks addresses, ports, timestamp or payload.
    """
    if not msg.is_sip:
        kind = PROTO_TYPES.get(msg.proto_type or 0, "unknown")
        raise HepError(f"HEP packet carries protocol type {msg.proto_type} ({kind}), not SIP")
    ts = msg.ts
    if (
        msg.src_ip is None
        or msg.dst_ip is None
        or msg.src_port is None
        or msg.dst_port is None
        or ts is None
        or msg.payload is None
    ):
        missing = [
            name
            for name, value in (
                ("source address", msg.src_ip),
                ("destination address", msg.dst_ip),
                ("source port", msg.src_port),
                ("destination port", msg.dst_port),
                ("timestamp", ts),
                ("payload", msg.payload),
            )
            if value is None
        ]
        raise HepError(f"HEPv{msg.version} packet has no {', '.join(missing)}")
    return Packet(
        ts=ts,
        src=(msg.src_ip, msg.src_port),
        dst=(msg.dst_ip, msg.dst_port),
        transport=_TRANSPORTS.get(msg.ip_proto or 17, "udp"),
        payload=msg.payload,
        capture_id=msg.capture_id,
        correlation_id=msg.correlation_id,
        frame=frame,
    )


def _put(out: bytearray, kind: int, body: bytes) -> None:
    if len(body) > 0xFFFF - 6:
        raise HepError(f"HEP3 chunk of {len(body)} bytes exceeds the 65535-byte limit")
    out += _CHUNK.pack(0, kind, 6 + len(body))
    out += body


def encode_hep3(
    packet: Packet,
    *,
    capture_id: int = 0,
    auth_key: bytes | None = None,
    capture_name: str | None = None,
    correlation_id: bytes | None = None,
    compress: bool = False,
) -> bytes:
    """Encode ``packet`` as one HEP3 packet with protocol type SIP.

    ``correlation_id`` defaults to the packet's own. ``compress`` sends the payload gzip
    compressed (chunk 0x0010). Transports ``tls``, ``ws`` and ``wss`` are all sent as IP
    protocol 22, as Kamailio does, and decode as ``tls``. Raises :class:`HepError` for an
    address that is not an IP address or a packet too large for HEP3's 16-bit length.
    """
    src_ip, src_port = packet.src
    dst_ip, dst_port = packet.dst
    v6 = ":" in src_ip
    af = socket.AF_INET6 if v6 else socket.AF_INET
    try:
        src_raw = socket.inet_pton(af, src_ip)
        dst_raw = socket.inet_pton(af, dst_ip)
    except OSError:
        raise HepError(f"cannot encode addresses {src_ip!r} -> {dst_ip!r} in HEP3") from None
    out = bytearray(b"HEP3\x00\x00")
    _put(out, 0x0001, _U8.pack(10 if v6 else _AF_INET))
    _put(out, 0x0002, _U8.pack(_IP_PROTOS.get(packet.transport, 17)))
    _put(out, 0x0005 if v6 else 0x0003, src_raw)
    _put(out, 0x0006 if v6 else 0x0004, dst_raw)
    sec, usec = divmod(packet.ts, 1_000_000)
    try:
        _put(out, 0x0007, _U16.pack(src_port))
        _put(out, 0x0008, _U16.pack(dst_port))
        _put(out, 0x0009, _U32.pack(sec))
        _put(out, 0x000A, _U32.pack(usec))
        _put(out, 0x000B, _U8.pack(PROTO_SIP))
        _put(out, 0x000C, _U32.pack(capture_id))
    except struct.error as exc:
        raise HepError(f"cannot encode port, time or capture id in HEP3: {exc}") from None
    if auth_key is not None:
        _put(out, 0x000E, auth_key)
    if capture_name is not None:
        _put(out, 0x0013, capture_name.encode())
    corr = correlation_id if correlation_id is not None else packet.correlation_id
    if corr is not None:
        _put(out, 0x0011, corr)
    if compress:
        _put(out, 0x0010, zlib.compress(packet.payload, wbits=31))
    else:
        _put(out, 0x000F, packet.payload)
    if len(out) > 0xFFFF:
        raise HepError(f"HEP3 packet of {len(out)} bytes exceeds the 65535-byte limit")
    out[4:6] = _U16.pack(len(out))
    return bytes(out)
