"""The parser's and tracker's shortcuts give exactly what the long way gives.

Each shortcut is checked against the plain computation it replaces, on the parser's own
sample messages and on random mutations of them.
"""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from callwatch.sip.message import SipMessage, SipParseError, parse_message
from test_sip_parser_fuzz import VALID

FUZZ = settings(max_examples=300, deadline=None)

VIA_VALUES = [
    "SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK1",
    "SIP/2.0/UDP 10.0.0.1;branch=a, SIP/2.0/TCP [2001:db8::1]:5061;branch=b",
    "SIP / 2.0 / WSS host.example;branch=x",
    "garbage",
    ";branch=only-params",
    "SIP/2.0/UDP ;branch=nohost",
    'SIP/2.0/UDP h1;x="a,b", broken, SIP/2.0/UDP h2',
    "UDP 10.0.0.1",
    ", ,",
]


def _with_via(value: str) -> bytes:
    return (
        "OPTIONS sip:a@b SIP/2.0\r\n"
        f"Via: {value}\r\n"
        "Via: SIP/2.0/UDP 10.0.0.9;branch=z9\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\n"
    ).encode()


def _via_count_matches(data: bytes) -> None:
    try:
        counted = parse_message(data)
    except SipParseError:
        return
    built = parse_message(data)
    assert counted.via_count == len(built.vias)
    assert built.via_count == len(built.vias)  # once read, the Via values are counted


def test_via_count_is_the_number_of_readable_vias():
    for value in VIA_VALUES:
        _via_count_matches(_with_via(value))
    msg = parse_message(_with_via(VIA_VALUES[1]))
    assert msg.via_count == 3


def test_via_count_of_a_hand_built_message_counts_its_vias():
    msg = parse_message(VALID[0])
    fields = {f.name: getattr(msg, f.name) for f in dataclasses.fields(SipMessage) if f.init}
    fields["vias"] = msg.vias[:1]
    assert SipMessage(**fields).via_count == 1


@FUZZ
@given(st.sampled_from(VALID), st.data())
def test_via_count_under_byte_flips(message, data):
    buf = bytearray(message)
    flips = data.draw(st.lists(st.integers(0, len(buf) - 1), min_size=1, max_size=12))
    for pos in flips:
        buf[pos] = data.draw(st.sampled_from(b" ,;:/\r\nA[]"))
    _via_count_matches(bytes(buf))


@FUZZ
@given(st.text(alphabet=' ,;:/=[]"SIP2.0UDPTCab1', max_size=60))
def test_via_count_of_random_via_text(value):
    _via_count_matches(_with_via(value))
