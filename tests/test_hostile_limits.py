"""Limits that keep one small hostile packet from costing the service much: the size of a SIP
message, inflation of compressed HEP payloads (only once the key is checked), the parser's
caches (bounded in bytes) and header folding (joined once)."""

from __future__ import annotations

import contextlib
import gc
import io
import struct
import tracemalloc
import zlib

import pytest

from callwatch.capture.hep import (
    HepAuthError,
    HepTooLarge,
    decode_hep,
    decode_hep_packet,
    encode_hep3,
    inflate_payload,
)
from callwatch.capture.listener import HepProtocol
from callwatch.capture.packet import HepError, Packet
from callwatch.capture.pcap import read_capture
from callwatch.capture.pcapwrite import write_pcap
from callwatch.capture.stats import CaptureStats
from callwatch.packet import MAX_MESSAGE
from callwatch.sip.feed import LegEventFeed
from callwatch.sip.message import SipParseError, parse_message

TS = 1_700_000_000_000_000
HEAD = (
    b"INVITE sip:0212345678@pbx SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1\r\n"
    b"From: <sip:01011112222@10.0.0.1>;tag=a\r\nTo: <sip:0212345678@pbx>\r\n"
    b"Call-ID: %s\r\nCSeq: 1 INVITE\r\n"
)


def invite(call_id: bytes, extra: bytes = b"") -> bytes:
    return HEAD % call_id + extra + b"Content-Length: 0\r\n\r\n"


def packet(payload: bytes) -> Packet:
    return Packet(TS, ("10.0.0.1", 5060), ("10.0.0.2", 5060), "udp", payload)


def bomb() -> bytes:
    """A HEP3 datagram of about 1.3 KB whose gzip payload inflates to a 1 MB INVITE."""
    big = invite(b"bomb", b"X-Pad: " + b"a" * (1 << 20) + b"\r\n")
    gram = encode_hep3(packet(big[:100]), compress=True)
    zipped = zlib.compress(big, 9, wbits=31)
    assert len(zipped) < 1500
    return _with_payload_chunk(gram, 0x0010, zipped)


def _with_payload_chunk(gram: bytes, kind: int, body: bytes) -> bytes:
    """``gram`` with its last chunk (the payload) replaced by chunk ``kind`` holding ``body``."""
    pos, last = 6, 6
    while pos < len(gram):
        last = pos
        pos += struct.unpack_from("!H", gram, pos + 4)[0]
    out = gram[:last] + struct.pack("!HHH", 0, kind, 6 + len(body)) + body
    return out[:4] + struct.pack("!H", len(out)) + out[6:]


# -- the size of a SIP message ---------------------------------------------------------------


def test_parser_refuses_a_message_longer_than_the_limit() -> None:
    fits = invite(b"fits", b"X-Pad: " + b"a" * (MAX_MESSAGE - 300) + b"\r\n")
    assert len(fits) <= MAX_MESSAGE
    assert parse_message(fits).call_id == "fits"
    big = invite(b"big", b"X-Pad: " + b"a" * MAX_MESSAGE + b"\r\n")
    with pytest.raises(SipParseError, match="message too large"):
        parse_message(big)


def test_feed_counts_a_message_too_large_under_one_kind() -> None:
    feed = LegEventFeed()
    for n in range(3):
        pad = b"X-Pad: " + b"a" * (MAX_MESSAGE + n * 1000) + b"\r\n"
        feed.push(packet(invite(b"c%d" % n, pad)))
    feed.flush()
    assert feed.parse_errors == {"message too large": 3}


# -- inflation: bounded, and after the key ---------------------------------------------------


def test_a_small_gzip_bomb_is_refused_as_too_large() -> None:
    data = bomb()
    with pytest.raises(HepTooLarge, match="inflates past 65,535 bytes"):
        decode_hep(data)
    with pytest.raises(HepTooLarge):
        decode_hep_packet(data)


def test_inflate_payload_gives_up_to_the_limit_and_refuses_one_byte_more() -> None:
    body = bytes(range(256)) * 40
    assert inflate_payload(zlib.compress(body), len(body)) == body
    with pytest.raises(HepTooLarge):
        inflate_payload(zlib.compress(body), len(body) - 1)
    with pytest.raises(HepError, match="does not decompress"):
        inflate_payload(b"not zlib")


@pytest.mark.parametrize("zipped", [b"not gzip at all", zlib.compress(bytes(1 << 20), wbits=31)])
def test_the_key_is_checked_before_the_payload_is_inflated(zipped: bytes) -> None:
    gram = encode_hep3(packet(invite(b"k")), auth_key=b"wrong")
    data = _with_payload_chunk(gram, 0x0010, zipped)
    with pytest.raises(HepAuthError):
        decode_hep_packet(data, auth_key=b"s3cret")
    with pytest.raises(HepAuthError):
        decode_hep(data, auth_key=b"s3cret")
    # the slow path (chunks in an unusual order) checks the key first too
    odd = data[:6] + data[-(6 + len(zipped)) :] + data[6 : -(6 + len(zipped))]
    with pytest.raises(HepAuthError):
        decode_hep_packet(odd, auth_key=b"s3cret")


def test_listener_counts_bombs_and_keyless_packets_by_reason() -> None:
    got: list[Packet] = []
    stats = CaptureStats()
    proto = HepProtocol(got.append, stats=stats)
    for _ in range(3):
        proto.datagram_received(bomb(), ("10.9.9.9", 4000))
    proto.datagram_received(encode_hep3(packet(invite(b"ok"))), ("10.0.0.1", 4000))
    assert stats.errors == {"hep_too_large": 3}
    assert [p.payload for p in got] == [invite(b"ok")]

    keyed = HepProtocol(got.append, auth_key=b"s3cret", stats=(stats := CaptureStats()))
    keyed.datagram_received(bomb(), ("10.9.9.9", 4000))
    assert stats.errors == {"bad_auth_key": 1}


def test_a_gzip_bomb_frame_in_a_pcap_is_counted_and_reading_goes_on() -> None:
    hep_frame = Packet(TS, ("10.0.0.9", 40000), ("10.0.0.2", 9060), "udp", bomb())
    real = packet(invite(b"after"))
    buf = io.BytesIO()
    write_pcap(buf, [hep_frame, real])
    buf.seek(0)
    stats = CaptureStats()
    assert [p.payload for p in read_capture(buf, stats)] == [real.payload]
    assert stats.errors == {"hep_too_large": 1}


def test_a_stream_message_longer_than_the_limit_is_refused() -> None:
    from callwatch.capture.framing import FramingError, split_sip

    big = invite(b"tcp", b"X-Pad: " + b"a" * MAX_MESSAGE + b"\r\n")
    with pytest.raises(FramingError):
        split_sip(big)


# -- caches bounded in bytes ----------------------------------------------------------------


def _growth(payloads: list[bytes]) -> int:
    """Bytes still held (by anything) after parsing ``payloads`` and dropping the results."""
    parse_message(invite(b"warm"))
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for data in payloads:
            with contextlib.suppress(SipParseError):
                parse_message(data)
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_unique_long_header_lines_are_not_kept() -> None:
    # 200 messages of 40 KB, each with a header line no other message has: 8 MB of lines
    payloads = [invite(b"u%d" % i, b"X-Junk: %d" % i + b"x" * 40_000 + b"\r\n") for i in range(200)]
    assert _growth(payloads) < 1 << 20


def test_unique_long_addresses_and_start_lines_are_not_kept() -> None:
    payloads = []
    for i in range(200):
        pad = b"p%d" % i + b"y" * 20_000
        payloads.append(
            b"INVITE sip:%s@pbx SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=%s\r\n"
            b"From: <sip:%s@h>;tag=t\r\nTo: <sip:1@h>\r\nCall-ID: %s\r\nCSeq: 1 INVITE\r\n\r\n"
            % (pad, pad, pad, pad)
        )
    assert _growth(payloads) < 1 << 20


def test_many_unique_short_lines_stay_within_the_line_budget() -> None:
    # 16,000 distinct lines of 500 characters: 16 MB with their values if all were kept
    payloads = [
        invite(
            b"s%d" % i,
            b"".join(b"X-%d-%d: " % (i, j) + b"z" * 490 + b"\r\n" for j in range(100)),
        )
        for i in range(160)
    ]
    assert _growth(payloads) < 8 << 20


# -- folding ---------------------------------------------------------------------------------


def test_a_header_folded_over_thousands_of_lines_reads_as_one_value() -> None:
    folds = 10_000
    data = invite(b"fold", b"Subject: start" + b"\r\n \t w" * folds + b"\r\n")
    msg = parse_message(data)
    assert msg.header("subject") == "start" + " w" * folds
    assert msg.call_id == "fold"


def test_folding_joins_as_before() -> None:
    data = (
        b"INVITE sip:1@h SIP/2.0\r\nSubject:\r\n one\r\n\t\r\n  two  \r\nCall-ID: x\r\n"
        b"CSeq: 1 INVITE\r\nFrom: <sip:a@h>;tag=1\r\nTo:\r\n <sip:b@h>\r\nNo colon\r\n"
        b" continued\r\n\r\n"
    )
    msg = parse_message(data)
    assert msg.headers == (
        ("subject", " one two"),
        ("call-id", "x"),
        ("cseq", "1 INVITE"),
        ("from", "<sip:a@h>;tag=1"),
        ("to", " <sip:b@h> continued"),
    )
