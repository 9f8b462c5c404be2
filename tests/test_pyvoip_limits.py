"""Why the capture path has its own parser: pyVoIP 1.6.8's SIPMessage beside ours, same bytes.

These tests pin down the limits docs/sip-parser.md gives as the reason. If a new
pyVoIP release lifts them, the pyVoIP half of a test fails and the decision can be revisited.
pyVoIP stays in the project for SIP user agents in tests (register, answer, hang up).
"""

from __future__ import annotations

import pytest

from callwatch.sip.message import parse_message
from callwatch.sip.sdp import sipfrag_status
from test_sip_parser import (
    ASTERISK_INVITE,
    NOTIFY_SIPFRAG,
    OPTIONS,
    POLYCOM_BLIND_REFER,
    PRACK,
    REGISTER,
    UPDATE_HOLD,
    YEALINK_REFER,
    wire,
)

pyVoIP = pytest.importorskip("pyVoIP")
pytest.importorskip("pyVoIP.VoIP")  # pyVoIP.SIP alone fails on a circular import
from pyVoIP.SIP import SIPMessage, SIPParseError  # noqa: E402


def test_pyvoip_version_is_the_one_measured():
    assert pyVoIP.__version__ == "1.6.8"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("REFER attended", YEALINK_REFER),
        ("REFER blind", POLYCOM_BLIND_REFER),
        ("NOTIFY", NOTIFY_SIPFRAG),
        ("PRACK", PRACK),
        ("UPDATE", UPDATE_HOLD),
        ("REGISTER", REGISTER),
        ("OPTIONS", OPTIONS),
    ],
)
def test_methods_beyond_invite_ack_bye_cancel_raise_in_pyvoip(name, data):
    with pytest.raises(SIPParseError, match="Unable to decipher SIP request"):
        SIPMessage(data)
    ours = parse_message(data)
    assert ours.method == data.split(b" ", 1)[0].decode()
    assert ours.call_id and ours.from_.tag


def test_notify_sipfrag_breaks_pyvoip_even_with_its_method_list_widened(monkeypatch):
    monkeypatch.setattr(pyVoIP, "SIPCompatibleMethods", [*pyVoIP.SIPCompatibleMethods, "NOTIFY"])
    with pytest.raises(IndexError):  # the sipfrag body is read as SDP
        SIPMessage(NOTIFY_SIPFRAG)
    assert sipfrag_status(parse_message(NOTIFY_SIPFRAG).body) == 200


COMPACT_INVITE = wire("""
INVITE sip:2001@10.20.0.5 SIP/2.0
v: SIP/2.0/UDP 10.20.0.30:5060;branch=z9hG4bKc1
f: "Park Jiho" <sip:2010@10.20.0.5>;tag=p1
t: <sip:2001@10.20.0.5>
i: compact-1@10.20.0.30
CSeq: 5 INVITE
""")


def test_compact_headers_lose_call_id_from_to_via_in_pyvoip():
    theirs = SIPMessage(COMPACT_INVITE)
    assert "Call-ID" not in theirs.headers and theirs.headers["i"] == "compact-1@10.20.0.30"
    assert "From" not in theirs.headers and "To" not in theirs.headers
    assert theirs.headers["Via"] == []
    ours = parse_message(COMPACT_INVITE)
    assert ours.call_id == "compact-1@10.20.0.30"
    assert (ours.from_.tag, ours.to.user, ours.vias[0].branch) == ("p1", "2001", "z9hG4bKc1")


def test_lower_case_header_name_loses_call_id_in_pyvoip():
    data = ASTERISK_INVITE.replace(b"Call-ID:", b"call-id:")
    assert "Call-ID" not in SIPMessage(data).headers
    assert parse_message(data).call_id == "0b1d3c8e-44a1-4c6e-9f0a-7d1e2a3b4c5d"


@pytest.mark.parametrize(
    ("shape", "old", "new", "error"),
    [
        ("LF-only line ends", b"\r\n", b"\n", ValueError),
        ("no space after the colon", b"From: ", b"From:", IndexError),
        ("tel: URI", b"To: <sip:2001@10.20.0.21>", b"To: <tel:+821012345678>", IndexError),
    ],
)
def test_wire_shapes_that_raise_in_pyvoip(shape, old, new, error):
    data = ASTERISK_INVITE.replace(old, new)
    with pytest.raises(error):
        SIPMessage(data)
    ours = parse_message(data)
    assert ours.method == "INVITE" and ours.call_id == "0b1d3c8e-44a1-4c6e-9f0a-7d1e2a3b4c5d"


def test_quoted_display_name_mangled_by_pyvoip():
    theirs = SIPMessage(ASTERISK_INVITE)
    assert theirs.headers["From"]["caller"] == '0212345678" '
    assert parse_message(ASTERISK_INVITE).from_.display == "0212345678"
