"""Property tests: whatever bytes arrive, parse_message returns a SipMessage or raises
SipParseError (never another exception, never the internal-error fallback, never a hang)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from callwatch.sip.message import SipMessage, SipParseError, parse_message
from callwatch.sip.sdp import sdp_direction, sipfrag_status
from test_sip_parser import (
    ASTERISK_INVITE,
    CHALLENGE_401,
    KAMAILIO_INVITE,
    NOTIFY_SIPFRAG,
    REGISTER,
    UPDATE_HOLD,
    YEALINK_REFER,
)

VALID = [ASTERISK_INVITE, KAMAILIO_INVITE, YEALINK_REFER, NOTIFY_SIPFRAG, UPDATE_HOLD, REGISTER]
VALID.append(CHALLENGE_401)

FUZZ = settings(max_examples=300, deadline=None)


def check(data: bytes) -> None:
    """The parser's contract on one input."""
    try:
        msg = parse_message(data)
    except SipParseError as exc:
        assert not str(exc).startswith("internal parser error"), exc
        return
    assert isinstance(msg, SipMessage)
    assert msg.call_id and msg.cseq_method
    assert (msg.method is None) != (msg.status is None)
    assert all(isinstance(name, str) and isinstance(value, str) for name, value in msg.headers)
    assert len(msg.body) <= len(data)
    # The lazy parts keep the same contract.
    _ = msg.contact, msg.content_type, msg.header("via"), msg.header_all("route")
    assert sdp_direction(msg.body) in (None, "sendrecv", "sendonly", "recvonly", "inactive")
    status = sipfrag_status(msg.body)
    assert status is None or 100 <= status <= 999


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes(data):
    check(data)


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_byte_flips(message, data):
    buf = bytearray(message)
    flips = data.draw(st.lists(st.integers(0, len(buf) - 1), min_size=1, max_size=12))
    for pos in flips:
        buf[pos] = data.draw(st.integers(0, 255))
    check(bytes(buf))


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_truncation(message, data):
    end = data.draw(st.integers(0, len(message)))
    start = data.draw(st.integers(0, min(end, 40)))
    check(message[start:end])


SEPARATORS = st.sampled_from(
    [
        b"\r",
        b"\n",
        b"\r\n",
        b":",
        b";",
        b",",
        b"<",
        b">",
        b'"',
        b"\\",
        b" ",
        b"\t",
        b"[",
        b"@",
        b"\x00",
    ]
)


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_insertions_of_separators(message, data):
    buf = bytearray(message)
    for _ in range(data.draw(st.integers(1, 10))):
        pos = data.draw(st.integers(0, len(buf)))
        buf[pos:pos] = data.draw(SEPARATORS) * data.draw(st.integers(1, 3))
    check(bytes(buf))


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_line_shuffles_and_drops(message, data):
    head, _, body = message.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    kept = data.draw(st.lists(st.sampled_from(lines), max_size=len(lines) + 3))
    ending = data.draw(st.sampled_from([b"\r\n", b"\n"]))
    check(ending.join(kept) + ending + ending + body)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_random_text_in_header_values(value):
    head = (
        "INVITE sip:2001@10.20.0.5 SIP/2.0\r\nVia: {v}\r\nFrom: {v}\r\nTo: <sip:a@b>\r\n"
        "Call-ID: {v}\r\nCSeq: 1 INVITE\r\nContact: {v}\r\nContent-Type: {v}\r\n"
        "Content-Length: {v}\r\n\r\n"
    )
    check(head.replace("{v}", value).encode("utf-8", "surrogatepass"))


def test_huge_numbers_do_not_escape_as_value_error():
    digits = "9" * 5000
    data = (
        f"BYE sip:a@h:{digits} SIP/2.0\r\nFrom: <sip:b@h:{digits}>;tag=1\r\nTo: <sip:a@h>\r\n"
        f"Call-ID: x\r\nCSeq: {digits} BYE\r\nContent-Length: {digits}\r\n\r\n"
    ).encode()
    check(data)
    check(data.replace(f"CSeq: {digits}".encode(), b"CSeq: 2"))
    assert parse_message(data.replace(f"CSeq: {digits}".encode(), b"CSeq: 2")).body == b""
