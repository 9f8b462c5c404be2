"""HEPv3/v2 decoding and HEPv3 encoding."""

from __future__ import annotations

import gzip
import socket
import struct

import pytest

from callwatch.capture.hep import _COMMON_PREFIX, decode_hep, encode_hep3, hep_to_packet
from callwatch.capture.packet import HepError, Packet

INVITE = (
    b"INVITE sip:201@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
    b"Call-ID: abc@10.0.0.1\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n"
)
TS = 1_700_000_000_123_456


def chunk(kind: int, body: bytes, vendor: int = 0) -> bytes:
    return struct.pack("!HHH", vendor, kind, 6 + len(body)) + body


def hep3(*chunks: bytes) -> bytes:
    body = b"".join(chunks)
    return b"HEP3" + struct.pack("!H", 6 + len(body)) + body


def hand_made(payload_chunk: bytes | None = None) -> bytes:
    """A HEP3 packet built byte by byte from the spec, independent of the encoder."""
    return hep3(
        chunk(0x0001, b"\x02"),
        chunk(0x0002, b"\x11"),
        chunk(0x0003, socket.inet_aton("10.0.0.1")),
        chunk(0x0004, socket.inet_aton("10.0.0.2")),
        chunk(0x0007, struct.pack("!H", 5060)),
        chunk(0x0008, struct.pack("!H", 5062)),
        chunk(0x0009, struct.pack("!I", 1_700_000_000)),
        chunk(0x000A, struct.pack("!I", 123_456)),
        chunk(0x000B, b"\x01"),
        chunk(0x000C, struct.pack("!I", 70_000)),
        chunk(0x000D, struct.pack("!H", 30)),
        chunk(0x000E, b"secret"),
        chunk(0x0011, b"corr-1"),
        chunk(0x0012, struct.pack("!H", 42)),
        chunk(0x0013, b"pbx-1"),
        chunk(0x0020, b"vendor data", vendor=0x0004),
        chunk(0x0099, b"unknown generic chunk"),
        payload_chunk if payload_chunk is not None else chunk(0x000F, INVITE),
    )


def test_decode_every_generic_chunk() -> None:
    msg = decode_hep(hand_made())
    assert msg.version == 3
    assert (msg.ip_family, msg.ip_proto) == (2, 17)
    assert (msg.src_ip, msg.src_port, msg.dst_ip, msg.dst_port) == (
        "10.0.0.1",
        5060,
        "10.0.0.2",
        5062,
    )
    assert msg.ts == TS
    assert msg.proto_type == 1 and msg.is_sip
    assert msg.capture_id == 70_000
    assert msg.keep_alive == 30
    assert msg.auth_key == b"secret"
    assert msg.correlation_id == b"corr-1"
    assert msg.vlan == 42
    assert msg.capture_name == "pbx-1"
    assert msg.payload == INVITE and not msg.compressed


def test_vendor_and_unknown_chunks_do_not_override_fields() -> None:
    # a vendor chunk using generic type 0x000f must not be taken as the payload
    data = hand_made()
    sneaky = hep3(chunk(0x000F, b"vendor payload", vendor=9), *_chunks_of(data))
    assert decode_hep(sneaky).payload == INVITE


def _chunks_of(data: bytes) -> list[bytes]:
    out, pos = [], 6
    while pos < len(data):
        length = struct.unpack_from("!H", data, pos + 4)[0]
        out.append(data[pos : pos + length])
        pos += length
    return out


def test_gzip_payload_chunk() -> None:
    msg = decode_hep(hand_made(chunk(0x0010, gzip.compress(INVITE))))
    assert msg.payload == INVITE and msg.compressed


def test_to_packet() -> None:
    packet = hep_to_packet(decode_hep(hand_made()), frame=7)
    assert packet == Packet(
        TS, ("10.0.0.1", 5060), ("10.0.0.2", 5062), "udp", INVITE, 70_000, b"corr-1", 7
    )


@pytest.mark.parametrize(
    ("proto", "transport"), [(6, "tcp"), (17, "udp"), (132, "sctp"), (22, "tls")]
)
def test_transport_from_ip_protocol(proto: int, transport: str) -> None:
    chunks = _chunks_of(hand_made())
    chunks[1] = chunk(0x0002, bytes([proto]))
    assert hep_to_packet(decode_hep(hep3(*chunks))).transport == transport


def test_non_sip_protocol_type_is_refused_by_name() -> None:
    chunks = _chunks_of(hand_made())
    chunks[8] = chunk(0x000B, b"\x05")
    msg = decode_hep(hep3(*chunks))
    assert not msg.is_sip
    with pytest.raises(HepError, match="RTCP"):
        hep_to_packet(msg)


def test_missing_fields_are_named() -> None:
    msg = decode_hep(hep3(chunk(0x000F, INVITE)))
    with pytest.raises(HepError, match=r"source address.*timestamp"):
        hep_to_packet(msg)


@pytest.mark.parametrize(
    "packet",
    [
        Packet(TS, ("10.0.0.1", 5060), ("10.0.0.2", 5060), "udp", INVITE),
        Packet(TS, ("10.0.0.1", 5060), ("10.0.0.2", 5060), "tcp", INVITE, 3, b"x-corr", 0),
        Packet(TS, ("2001:db8::1", 5060), ("2001:db8::2", 5080), "udp", INVITE, 9),
        Packet(0, ("::1", 1), ("::2", 65535), "sctp", b""),
    ],
)
@pytest.mark.parametrize("compress", [False, True])
def test_round_trip(packet: Packet, compress: bool) -> None:
    data = encode_hep3(packet, capture_id=packet.capture_id or 0, compress=compress)
    msg = decode_hep(data)
    assert msg.compressed == compress
    assert hep_to_packet(msg) == Packet(
        packet.ts,
        packet.src,
        packet.dst,
        packet.transport,
        packet.payload,
        packet.capture_id or 0,
        packet.correlation_id,
    )


def test_encoder_options() -> None:
    packet = Packet(TS, ("10.0.0.1", 5060), ("10.0.0.2", 5060), "ws", INVITE)
    msg = decode_hep(
        encode_hep3(
            packet,
            capture_id=2001,
            auth_key=b"k3y",
            capture_name="asterisk",
            correlation_id=b"c-9",
        )
    )
    assert (msg.capture_id, msg.auth_key, msg.capture_name) == (2001, b"k3y", "asterisk")
    assert msg.correlation_id == b"c-9"
    assert msg.ip_proto == 22  # Kamailio's mark for TLS/WS
    assert len(encode_hep3(packet)) == struct.unpack_from("!H", encode_hep3(packet), 4)[0]


def test_encoder_refuses_bad_address_and_oversize() -> None:
    with pytest.raises(HepError):
        encode_hep3(Packet(TS, ("pbx.local", 1), ("10.0.0.1", 2), "udp", INVITE))
    with pytest.raises(HepError, match="65535"):
        encode_hep3(Packet(TS, ("10.0.0.1", 1), ("10.0.0.2", 2), "udp", b"x" * 70_000))


def hepv2(family: int, src: bytes, dst: bytes, *, packed: bool = False, big: bool = False) -> bytes:
    """Kamailio's HEPv2 layout: header, addresses, timeval + capture id (padded), payload."""
    head_len = 8 + 2 * len(src)
    head = struct.pack("!BBBBHH", 2, head_len, family, 17, 5060, 5062) + src + dst
    order = ">" if big else "<"
    time = struct.pack(order + "IIH", 1_700_000_000, 123_456, 77) + (b"" if packed else b"\x00\x00")
    return head + time + INVITE


@pytest.mark.parametrize("packed", [False, True])
@pytest.mark.parametrize("big", [False, True])
def test_hepv2_ipv4(packed: bool, big: bool) -> None:
    data = hepv2(
        2, socket.inet_aton("10.0.0.1"), socket.inet_aton("10.0.0.2"), packed=packed, big=big
    )
    msg = decode_hep(data)
    assert msg.version == 2
    assert msg.ts == TS
    assert msg.payload == INVITE
    assert hep_to_packet(msg) == Packet(
        TS, ("10.0.0.1", 5060), ("10.0.0.2", 5062), "udp", INVITE, 77
    )


def test_hepv2_ipv6() -> None:
    src = socket.inet_pton(socket.AF_INET6, "2001:db8::1")
    dst = socket.inet_pton(socket.AF_INET6, "2001:db8::2")
    msg = decode_hep(hepv2(10, src, dst))
    assert (msg.src_ip, msg.dst_ip, msg.ts, msg.payload) == (
        "2001:db8::1",
        "2001:db8::2",
        TS,
        INVITE,
    )


def test_hepv1_has_no_timestamp() -> None:
    data = struct.pack("!BBBBHH", 1, 16, 2, 17, 5060, 5062) + bytes(8) + INVITE
    msg = decode_hep(data)
    assert msg.version == 1 and msg.ts is None and msg.payload == INVITE
    with pytest.raises(HepError, match="timestamp"):
        hep_to_packet(msg)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty"),
        (b"GET / HTTP/1.1\r\n", "not a HEP packet"),
        (b"HEP3\x00", "shorter"),
        (b"HEP3\x00\x03", "total length 3"),
        (b"HEP3\x00\x40" + bytes(10), "truncated"),
        (hep3(chunk(0x0003, b"\x01\x02\x03")), r"0x0003 \(IPv4 source\) has 3 bytes"),
        (hep3(chunk(0x0007, b"\x01")), "source port"),
        (b"HEP3\x00\x0c\x00\x00\x00\x0f\x00\x02", "bad length 2"),
        (b"HEP3\x00\x0c\x00\x00\x00\x0f\x00\x09abc", "past the end"),
        (hep3(chunk(0x0010, b"not gzip")), "does not decompress"),
        (hep3(chunk(0x0010, gzip.compress(INVITE, mtime=0)[:20])), "truncated"),
        (struct.pack("!BBBBHH", 2, 16, 99, 17, 1, 2), "family 99"),
        (struct.pack("!BBBBHH", 2, 40, 2, 17, 1, 2), "header length 40"),
        (struct.pack("!BBBBHH", 2, 16, 2, 17, 1, 2) + bytes(8), "time header"),
    ],
)
def test_bad_packets_raise_hep_error_naming_the_fault(data: bytes, message: str) -> None:
    with pytest.raises(HepError, match=message):
        decode_hep(data)


def test_every_truncation_of_a_real_packet_is_a_hep_error() -> None:
    data = encode_hep3(
        Packet(TS, ("10.0.0.1", 5060), ("10.0.0.2", 5060), "udp", INVITE),
        auth_key=b"k",
        capture_name="n",
    )
    for cut in range(len(data)):
        with pytest.raises(HepError):
            decode_hep(data[:cut])


def test_gzip_bomb_is_refused() -> None:
    with pytest.raises(HepError, match="inflates past"):
        decode_hep(hep3(chunk(0x0010, gzip.compress(bytes(4 << 20)))))


def test_decode_hep_packet_matches_the_two_step_path() -> None:
    from callwatch.capture.hep import HepAuthError, decode_hep_packet

    data = hand_made()
    assert decode_hep_packet(data, frame=3) == hep_to_packet(decode_hep(data), frame=3)
    with pytest.raises(HepAuthError):
        decode_hep_packet(data, auth_key=b"key")
    assert decode_hep_packet(hep3(chunk(0x000B, b"\x04"), chunk(0x000F, INVITE))) is None
    with pytest.raises(HepError, match="has no source address"):
        decode_hep_packet(hep3(chunk(0x000F, INVITE)))


def _two_step(data: bytes, auth_key: bytes | None = None, frame: int = 0) -> object:
    """What decode_hep_packet must give, from the general decoder: a Packet, None or an error."""
    from callwatch.capture.hep import HepAuthError

    try:
        msg = decode_hep(data, auth_key=auth_key)
        return hep_to_packet(msg, frame=frame) if msg.is_sip else None
    except HepAuthError:
        return "HepAuthError"
    except HepError as exc:
        return f"{type(exc).__name__}: {exc}"


def _one_step(data: bytes, auth_key: bytes | None = None, frame: int = 0) -> object:
    from callwatch.capture.hep import HepAuthError, decode_hep_packet

    try:
        return decode_hep_packet(data, auth_key=auth_key, frame=frame)
    except HepAuthError:
        return "HepAuthError"
    except HepError as exc:
        return f"{type(exc).__name__}: {exc}"


KAMAILIO = [1, 2, 3, 5, 4, 6, 7, 8, 9, 10, 11, 12, 0x11, 0x0E, 0x0F, 0x10]
ASTERISK = [1, 2, 7, 8, 9, 10, 11, 12, 3, 5, 4, 6, 0x0E, 0x11, 0x0F, 0x10]


def _in_order(data: bytes, order: list[int]) -> bytes:
    by_kind = {struct.unpack_from("!H", c, 2)[0]: c for c in _chunks_of(data)}
    return hep3(*[by_kind[kind] for kind in order if kind in by_kind])


@pytest.mark.parametrize("order", [KAMAILIO, ASTERISK])
@pytest.mark.parametrize("src", [("10.0.0.1", 5060), ("2001:db8::1", 5062), ("::ffff:10.0.0.1", 1)])
@pytest.mark.parametrize("compress", [False, True])
def test_decode_hep_packet_agent_layouts(
    order: list[int], src: tuple[str, int], compress: bool
) -> None:
    dst = ("2001:db8::2", 5060) if ":" in src[0] else ("10.0.0.2", 5060)
    packet = Packet(TS, src, dst, "tcp", INVITE, 9, b"x-corr")
    data = _in_order(
        encode_hep3(packet, capture_id=70_000, auth_key=b"k\x00", compress=compress), order
    )
    expected = Packet(TS, src, dst, "tcp", INVITE, 70_000, b"x-corr", 4)
    assert _one_step(data, b"k", 4) == _two_step(data, b"k", 4) == expected
    assert _one_step(data, b"other") == "HepAuthError"
    assert _one_step(data) == Packet(TS, src, dst, "tcp", INVITE, 70_000, b"x-corr")
    assert _COMMON_PREFIX.match(data) is not None  # the fast path's layouts
    for cut in range(len(data)):
        assert _one_step(data[:cut], b"k") == _two_step(data[:cut], b"k")


def test_decode_hep_packet_unusual_chunks_after_the_common_ones() -> None:
    base = _chunks_of(
        encode_hep3(Packet(TS, ("10.0.0.1", 5060), ("10.0.0.2", 5060), "udp", INVITE))
    )
    common, payload = base[:-1], base[-1]
    extras = [
        chunk(0x0007, struct.pack("!H", 9)),  # a fixed-size chunk again: the last one wins
        chunk(0x0003, b"\x01\x02\x03\x04"),
        chunk(0x000D, b"\x01"),  # wrong size
        chunk(0x0012, struct.pack("!H", 42)),
        chunk(0x0012, b"\x01"),
        chunk(0x0013, b"pbx\x00"),
        chunk(0x0099, b"unknown"),
        chunk(0x0000, b""),
        chunk(0x000F, b"vendor payload", vendor=7),
        chunk(0x000B, b"\x05"),
        chunk(0x0010, b"not gzip"),
        chunk(0x000F, b"first payload"),
    ]
    cases = [hep3(*common, extra, payload) for extra in extras]
    cases += [hep3(*common, payload, extra) for extra in extras]
    cases.append(hep3(*common))  # no payload
    cases.append(hep3(*common, chunk(0x000B, b"\x04")))  # not SIP and no payload
    whole = hep3(*common, payload)
    cases.append(whole[:4] + struct.pack("!H", 60) + whole[6:])  # total inside the fixed chunks
    cases.append(whole + b"\x00\x00\x00")  # bytes after the total length
    cases.append(whole[:-3] + b"\x00\x00\x00\x0f\x00\x09")  # a chunk running past the end
    for data in cases:
        for key in (None, b"", b"k"):
            assert _one_step(data, key) == _two_step(data, key), data


def test_decode_hep_packet_takes_bytearray_and_memoryview() -> None:
    from callwatch.capture.hep import decode_hep_packet

    data = _in_order(
        encode_hep3(Packet(TS, ("10.0.0.1", 1), ("10.0.0.2", 2), "udp", INVITE)), ASTERISK
    )
    for view in (bytearray(data), memoryview(data)):
        packet = decode_hep_packet(view)
        assert packet is not None and type(packet.payload) is bytes
        assert packet == decode_hep_packet(data)


def test_decode_hep_packet_matches_the_two_step_path_on_mutations() -> None:
    import random

    rng = random.Random(7)
    packets = [
        Packet(TS, ("10.0.0.1", 5060), ("10.0.0.2", 5060), "udp", INVITE, 1, b"c-1"),
        Packet(TS, ("2001:db8::1", 5060), ("2001:db8::2", 5080), "tcp", INVITE),
    ]
    samples = [
        _in_order(encode_hep3(p, auth_key=b"k", compress=z), order)
        for p in packets
        for z in (False, True)
        for order in (KAMAILIO, ASTERISK)
    ]
    for _ in range(3000):
        data = bytearray(rng.choice(samples))
        for _ in range(rng.randint(1, 3)):
            pos = rng.randrange(len(data))
            action = rng.random()
            if action < 0.6:
                data[pos] = rng.choice([0, 1, 6, 7, 0x0F, 0x10, 0x11, 0xFF, rng.randrange(256)])
            elif action < 0.8:
                del data[pos : pos + rng.randint(1, 8)]
            else:
                data[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        if rng.random() < 0.7:  # keep the total length right, so that the chunks are looked at
            data[4:6] = struct.pack("!H", len(data))
        for key in (None, b"k"):
            assert _one_step(bytes(data), key) == _two_step(bytes(data), key), bytes(data)
