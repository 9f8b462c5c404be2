"""The tolerant SIP parser on messages shaped like what real PBXs and phones send."""

# Real SIP header lines run past 100 characters; the messages below keep them whole.
# ruff: noqa: E501

from __future__ import annotations

import dataclasses

import pytest

from callwatch.sip.message import (
    NameAddr,
    Replaces,
    SipMessage,
    SipParseError,
    Uri,
    Via,
    canonical_name,
    parse_message,
    parse_name_addr,
    parse_replaces,
    parse_via,
)
from callwatch.sip.sdp import sdp_direction, sipfrag_status
from callwatch.sip.uri import parse_uri, split_commas


def wire(head: str, body: str | bytes = b"", *, length: bool = True) -> bytes:
    """A message as it goes on the wire: CRLF line ends, Content-Length of the body."""
    data = body.encode() if isinstance(body, str) else body
    lines = head.strip("\n").split("\n")
    if length:
        lines.append(f"Content-Length: {len(data)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def crlf(text: str) -> str:
    return text.strip("\n").replace("\n", "\r\n") + "\r\n"


ASTERISK_SDP = crlf("""
v=0
o=- 1826736441 1826736441 IN IP4 10.20.0.5
s=Asterisk
c=IN IP4 10.20.0.5
t=0 0
m=audio 17028 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-16
a=ptime:20
a=maxptime:150
a=sendrecv
""")

ASTERISK_INVITE = wire(
    """
INVITE sip:2001@10.20.0.21:5062;transport=UDP SIP/2.0
Via: SIP/2.0/UDP 10.20.0.5:5060;rport;branch=z9hG4bKPj6a1c0f3e-8d7b-4f55-9d0e-2b2f1d0c9a11
From: "0212345678" <sip:0212345678@10.20.0.5>;tag=8a3f5d2c-2b41-4a9e-8d65-2f1c2f6f7d10
To: <sip:2001@10.20.0.21>
Contact: <sip:asterisk@10.20.0.5:5060>
Call-ID: 0b1d3c8e-44a1-4c6e-9f0a-7d1e2a3b4c5d
CSeq: 12750 INVITE
Allow: OPTIONS, REGISTER, SUBSCRIBE, NOTIFY, PUBLISH, INVITE, ACK, BYE, CANCEL, UPDATE, PRACK
Supported: 100rel, timer, replaces, norefersub
Session-Expires: 1800
Min-SE: 90
P-Asserted-Identity: "0212345678" <sip:0212345678@10.20.0.5>
Max-Forwards: 70
User-Agent: Asterisk PBX 20.5.0
Content-Type: application/sdp
""",
    ASTERISK_SDP,
)

KAMAILIO_INVITE = wire(
    """
INVITE sip:2002@10.20.0.22:5060 SIP/2.0
Record-Route: <sip:10.20.0.2;lr;ftag=as5f2e1c7b;did=7a1.b3e1>
Record-Route: <sip:10.20.0.3;r2=on;lr>, <sip:192.0.2.3;r2=on;lr>
Via: SIP/2.0/UDP 10.20.0.2;branch=z9hG4bK4b3c.6e9f1a7d2c1b0e8f.0
Via: SIP/2.0/UDP 198.51.100.7:5060;received=198.51.100.7;rport=5060;branch=z9hG4bK7e1d2a9c
Max-Forwards: 69
From: "ACME Trunk" <sip:0311112222@198.51.100.7>;tag=as5f2e1c7b
To: <sip:2002@pbx.example.go.kr>
Contact: <sip:0311112222@198.51.100.7:5060>
Call-ID: 3c26f0a81b8e4c7d@198.51.100.7
CSeq: 102 INVITE
Content-Type: application/sdp
""",
    ASTERISK_SDP,
)

YEALINK_REFER = wire("""
REFER sip:0212345678@10.20.0.5:5060 SIP/2.0
Via: SIP/2.0/UDP 10.20.0.21:5062;branch=z9hG4bK1894270419
From: "Kim Minji" <sip:2001@10.20.0.5>;tag=1408239172
To: <sip:0212345678@10.20.0.5>;tag=8a3f5d2c-2b41-4a9e-8d65-2f1c2f6f7d10
Call-ID: 0b1d3c8e-44a1-4c6e-9f0a-7d1e2a3b4c5d
CSeq: 3 REFER
Contact: <sip:2001@10.20.0.21:5062>
Max-Forwards: 70
User-Agent: Yealink SIP-T46U 108.86.0.45
Refer-To: <sip:2003@10.20.0.5?Replaces=77e1b2c3-5d4e%4010.20.0.21%3Bto-tag%3D3b9f1c2a%3Bfrom-tag%3D1967226013>
Referred-By: <sip:2001@10.20.0.5>
""")

POLYCOM_BLIND_REFER = wire("""
REFER sip:0212345678@10.20.0.5 SIP/2.0
Via: SIP/2.0/UDP 10.20.0.23:5060;branch=z9hG4bK8d2e7a1f0c9b4d3a;rport
From: "Lee Seoyeon" <sip:2004@10.20.0.5>;tag=A1B2C3D4-E5F6A7B8
To: "0212345678" <sip:0212345678@10.20.0.5>;tag=9f8e7d6c
CSeq: 2 REFER
Call-ID: 5e4d3c2b-1a09-4877-9665-544332211000
Contact: <sip:2004@10.20.0.23:5060>
User-Agent: PolycomVVX-VVX_411-UA/6.4.3.5018
r: <sip:2005@10.20.0.5>
b: <sip:2004@10.20.0.5>
""")

NOTIFY_SIPFRAG = wire(
    """
NOTIFY sip:2001@10.20.0.21:5062 SIP/2.0
Via: SIP/2.0/UDP 10.20.0.5:5060;rport;branch=z9hG4bKPj9e1f2a3b
From: <sip:0212345678@10.20.0.5>;tag=8a3f5d2c-2b41-4a9e-8d65-2f1c2f6f7d10
To: "Kim Minji" <sip:2001@10.20.0.5>;tag=1408239172
Call-ID: 0b1d3c8e-44a1-4c6e-9f0a-7d1e2a3b4c5d
CSeq: 12752 NOTIFY
Event: refer
Subscription-State: terminated;reason=noresource
Contact: <sip:10.20.0.5:5060>
Content-Type: message/sipfrag;version=2.0
""",
    "SIP/2.0 200 OK\r\n",
)

PRACK = wire("""
PRACK sip:2001@10.20.0.21:5062 SIP/2.0
Via: SIP/2.0/UDP 10.20.0.5:5060;rport;branch=z9hG4bKPj0c7d6e5f
From: "0212345678" <sip:0212345678@10.20.0.5>;tag=8a3f5d2c-2b41-4a9e-8d65-2f1c2f6f7d10
To: <sip:2001@10.20.0.21>;tag=1408239172
Call-ID: 0b1d3c8e-44a1-4c6e-9f0a-7d1e2a3b4c5d
CSeq: 12751 PRACK
RAck: 1 12750 INVITE
Max-Forwards: 70
""")

SENDONLY_SDP = crlf("""
v=0
o=yealink 1804289383 1804289384 IN IP4 10.20.0.21
s=SDP data
c=IN IP4 10.20.0.21
t=0 0
m=audio 11780 RTP/AVP 0 8 101
a=rtpmap:0 PCMU/8000
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
a=ptime:20
a=sendonly
""")

UPDATE_HOLD = wire(
    """
UPDATE sip:0212345678@10.20.0.5:5060 SIP/2.0
Via: SIP/2.0/UDP 10.20.0.21:5062;branch=z9hG4bK2101483411
From: "Kim Minji" <sip:2001@10.20.0.5>;tag=1408239172
To: <sip:0212345678@10.20.0.5>;tag=8a3f5d2c-2b41-4a9e-8d65-2f1c2f6f7d10
Call-ID: 0b1d3c8e-44a1-4c6e-9f0a-7d1e2a3b4c5d
CSeq: 4 UPDATE
Contact: <sip:2001@10.20.0.21:5062>
Content-Type: application/sdp
""",
    SENDONLY_SDP,
)

REGISTER = wire("""
REGISTER sip:10.20.0.5 SIP/2.0
Via: SIP/2.0/UDP 10.20.0.21:5062;branch=z9hG4bK903717458;rport
From: "Kim Minji" <sip:2001@10.20.0.5:5060>;tag=3284923873
To: "Kim Minji" <sip:2001@10.20.0.5:5060>
Call-ID: 1927405917@10.20.0.21
CSeq: 1 REGISTER
Contact: <sip:2001@10.20.0.21:5062>;+sip.instance="<urn:uuid:00000000-0000-1000-8000-805ec0a1b2c3>";expires=3600
X-Grandstream-PBX: true
Max-Forwards: 70
User-Agent: Yealink SIP-T46U 108.86.0.45
Expires: 3600
Allow: INVITE, INFO, PRACK, ACK, BYE, CANCEL, OPTIONS, NOTIFY, REGISTER, SUBSCRIBE, REFER, UPDATE
""")

OPTIONS = wire("""
OPTIONS sip:2001@10.20.0.21:5062;rinstance=4f6b2a1e SIP/2.0
Via: SIP/2.0/UDP 10.20.0.5:5060;rport;branch=z9hG4bKPjf3e2d1c0
From: <sip:2001@10.20.0.5>;tag=d1c0b9a8-7f6e-5d4c-3b2a-190817263544
To: <sip:2001@10.20.0.21;rinstance=4f6b2a1e>
Contact: <sip:2001@10.20.0.5:5060>
Call-ID: 9a8b7c6d-5e4f-3a2b-1c0d-efaabbccddee
CSeq: 47310 OPTIONS
Max-Forwards: 70
User-Agent: Asterisk PBX 20.5.0
""")

CHALLENGE_401 = wire("""
SIP/2.0 401 Unauthorized
Via: SIP/2.0/UDP 10.20.0.21:5062;rport=5062;received=10.20.0.21;branch=z9hG4bK903717458
Call-ID: 1927405917@10.20.0.21
From: "Kim Minji" <sip:2001@10.20.0.5>;tag=3284923873
To: "Kim Minji" <sip:2001@10.20.0.5>;tag=z9hG4bK903717458
CSeq: 1 REGISTER
WWW-Authenticate: Digest realm="asterisk",nonce="1700000000/6c6d2e7f",opaque="5a1e2b3c",algorithm=md5,qop="auth"
Server: Asterisk PBX 20.5.0
""")


# --- start line, required headers, every method -------------------------------------------


def test_asterisk_invite_with_sdp():
    msg = parse_message(ASTERISK_INVITE)
    assert msg.is_request and msg.method == "INVITE" and msg.status is None
    assert msg.request_uri == Uri("sip", "2001", "10.20.0.21", 5062, {"transport": "UDP"})
    assert msg.call_id == "0b1d3c8e-44a1-4c6e-9f0a-7d1e2a3b4c5d"
    assert (msg.cseq, msg.cseq_method) == (12750, "INVITE")
    assert msg.from_.display == "0212345678" and msg.from_.user == "0212345678"
    assert msg.from_.tag == "8a3f5d2c-2b41-4a9e-8d65-2f1c2f6f7d10"
    assert msg.to.user == "2001" and msg.to.tag is None
    assert msg.vias == (
        Via(
            "UDP",
            "10.20.0.5",
            5060,
            "z9hG4bKPj6a1c0f3e-8d7b-4f55-9d0e-2b2f1d0c9a11",
            {"rport": "", "branch": "z9hG4bKPj6a1c0f3e-8d7b-4f55-9d0e-2b2f1d0c9a11"},
        ),
    )
    assert msg.body == ASTERISK_SDP.encode()
    assert msg.content_type == "application/sdp"
    assert msg.contact is not None and msg.contact.user == "asterisk"
    assert msg.header("p-asserted-identity") == '"0212345678" <sip:0212345678@10.20.0.5>'
    assert sdp_direction(msg.body) == "sendrecv"


def test_status_line():
    msg = parse_message(CHALLENGE_401)
    assert not msg.is_request and msg.method is None and msg.request_uri is None
    assert (msg.status, msg.reason) == (401, "Unauthorized")
    assert msg.cseq_method == "REGISTER" and msg.body == b""
    assert msg.vias[0].params["received"] == "10.20.0.21" and msg.vias[0].params["rport"] == "5062"
    # Commas inside the Digest challenge are not split, nothing is lost.
    assert msg.header("www-authenticate").endswith('algorithm=md5,qop="auth"')


def test_reason_phrase_may_be_empty_or_have_spaces():
    base = "Via: SIP/2.0/UDP h;branch=z9hG4bK1\nFrom: <sip:a@h>;tag=1\nTo: <sip:b@h>\n"
    base += "Call-ID: c\nCSeq: 1 INVITE"
    assert parse_message(wire("SIP/2.0 183 Session Progress\n" + base)).reason == (
        "Session Progress"
    )
    assert parse_message(wire("SIP/2.0 486\n" + base)).reason == ""


@pytest.mark.parametrize(
    "method",
    [
        "INVITE",
        "ACK",
        "BYE",
        "CANCEL",
        "REFER",
        "NOTIFY",
        "UPDATE",
        "PRACK",
        "INFO",
        "OPTIONS",
        "REGISTER",
        "SUBSCRIBE",
        "PUBLISH",
        "MESSAGE",
        "X-YEALINK-CUSTOM",
    ],
)
def test_every_method_and_extension_methods(method):
    msg = parse_message(
        wire(
            f"{method} sip:2001@10.20.0.5 SIP/2.0\nVia: SIP/2.0/UDP 10.20.0.21;branch=z9hG4bK9\n"
            f"From: <sip:2002@10.20.0.5>;tag=a\nTo: <sip:2001@10.20.0.5>\nCall-ID: m-{method}\n"
            f"CSeq: 7 {method}"
        )
    )
    assert msg.method == method and msg.cseq_method == method and msg.call_id == f"m-{method}"


def test_method_upper_cased():
    msg = parse_message(
        wire("invite sip:a@h SIP/2.0\nf: <sip:b@h>;tag=1\nt: <sip:a@h>\ni: x\nCSeq: 1 invite")
    )
    assert msg.method == "INVITE" and msg.cseq_method == "INVITE"


@pytest.mark.parametrize(
    ("drop", "error"),
    [
        ("Call-ID", "missing Call-ID"),
        ("CSeq", "missing CSeq"),
        ("From", "missing From"),
        ("To", "missing To"),
    ],
)
def test_missing_required_header_names_it(drop, error):
    lines = [
        line for line in ASTERISK_INVITE.decode().split("\r\n") if not line.startswith(f"{drop}:")
    ]
    with pytest.raises(SipParseError, match=error):
        parse_message("\r\n".join(lines).encode())


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "empty message"),
        (b"\r\n\r\n", "empty message"),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", "not a SIP request or status line"),
        (b"SIP/2.0 2OO OK\r\nCall-ID: x\r\n\r\n", "bad status code"),
        (b"INVITE SIP/2.0\r\nCall-ID: x\r\n\r\n", "not a SIP request or status line"),
        (b"INVITE nonsense SIP/2.0\r\nCall-ID: x\r\n\r\n", "bad Request-URI"),
    ],
)
def test_bad_start_line(data, error):
    with pytest.raises(SipParseError, match=error):
        parse_message(data)


@pytest.mark.parametrize(
    ("cseq", "error"),
    [("INVITE", "bad CSeq"), ("1", "bad CSeq"), ("x INVITE", "bad CSeq"), ("1 2 3", "bad CSeq")],
)
def test_bad_cseq(cseq, error):
    data = wire(
        f"BYE sip:a@h SIP/2.0\nFrom: <sip:b@h>;tag=1\nTo: <sip:a@h>\nCall-ID: x\nCSeq: {cseq}"
    )
    with pytest.raises(SipParseError, match=error):
        parse_message(data)


@pytest.mark.parametrize(
    ("header", "error"),
    [("From: <sip:b@h;tag=1", "bad From header: '<' without '>'"), ("To: nobody", "bad To header")],
)
def test_bad_from_or_to_named(header, error):
    lines = ["BYE sip:a@h SIP/2.0", "From: <sip:b@h>;tag=1", "To: <sip:a@h>", "Call-ID: x"]
    lines = [line for line in lines if not line.startswith(header.split(":")[0] + ":")]
    data = wire("\n".join([*lines, header, "CSeq: 2 BYE"]))
    with pytest.raises(SipParseError, match=error):
        parse_message(data)


def test_sip_parse_error_is_a_value_error():
    assert issubclass(SipParseError, ValueError)


# --- header names and line shapes ---------------------------------------------------------


def test_compact_forms_and_any_case_names_and_no_space_after_colon():
    data = wire(
        """
MESSAGE sip:2001@10.20.0.5 SIP/2.0
v:SIP/2.0/TCP 10.20.0.30:5060;branch=z9hG4bKc1
f:"Park Jiho" <sip:2010@10.20.0.5>;tag=p1
T:<sip:2001@10.20.0.5>
I:compact-1@10.20.0.30
cseq:  5 MESSAGE
m:<sip:2010@10.20.0.30:5060;transport=tcp>
k:timer
o:refer
u:presence, refer
x:1800;refresher=uac
s:hello
c:Text/Plain; charset=UTF-8
""",
        "hi",
    )
    msg = parse_message(data)
    names = [name for name, _ in msg.headers]
    assert names == [
        "via",
        "from",
        "to",
        "call-id",
        "cseq",
        "contact",
        "supported",
        "event",
        "allow-events",
        "session-expires",
        "subject",
        "content-type",
        "content-length",
    ]
    assert msg.call_id == "compact-1@10.20.0.30" and msg.cseq == 5
    assert msg.from_.display == "Park Jiho" and msg.to.user == "2001"
    assert msg.vias[0].transport == "TCP"
    assert msg.contact.uri.params == {"transport": "tcp"}
    assert msg.content_type == "text/plain"
    assert msg.body == b"hi"
    for name in ("Call-ID", "call-id", "CALL-ID", "i", "I"):
        assert msg.header(name) == "compact-1@10.20.0.30"
    assert msg.header("session-expires") == msg.header("x") == "1800;refresher=uac"
    assert msg.header("record-route") is None
    assert msg.header_all("nope") == []


def test_compact_form_table():
    expected = {
        "a": "accept-contact",
        "b": "referred-by",
        "c": "content-type",
        "d": "request-disposition",
        "e": "content-encoding",
        "f": "from",
        "i": "call-id",
        "j": "reject-contact",
        "k": "supported",
        "l": "content-length",
        "m": "contact",
        "n": "identity-info",
        "o": "event",
        "r": "refer-to",
        "s": "subject",
        "t": "to",
        "u": "allow-events",
        "v": "via",
        "x": "session-expires",
        "y": "identity",
    }
    for short, long in expected.items():
        assert canonical_name(short) == long
        assert canonical_name(short.upper()) == long
    assert canonical_name(" Via ") == "via" and canonical_name("X-Custom") == "x-custom"


def test_lf_only_line_ends():
    data = ASTERISK_INVITE.replace(b"\r\n", b"\n")
    msg = parse_message(data)
    assert msg.call_id == "0b1d3c8e-44a1-4c6e-9f0a-7d1e2a3b4c5d"
    assert msg.body == ASTERISK_SDP.encode().replace(b"\r\n", b"\n")[: len(ASTERISK_SDP)]
    assert sdp_direction(msg.body) == "sendrecv"


def test_mixed_line_ends():
    head, _, body = ASTERISK_INVITE.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    mixed = b"".join(line + (b"\n" if i % 2 else b"\r\n") for i, line in enumerate(lines))
    msg = parse_message(mixed + b"\n" + body)
    assert msg.call_id == "0b1d3c8e-44a1-4c6e-9f0a-7d1e2a3b4c5d"
    assert msg.cseq == 12750 and msg.to.user == "2001"
    assert msg.body == body
    assert all(not value.endswith("\r") for _, value in msg.headers)


def test_folded_headers_are_unfolded():
    data = wire(
        "INFO sip:2001@10.20.0.5 SIP/2.0\n"
        "Via: SIP/2.0/UDP 10.20.0.21:5062\n ;branch=z9hG4bKf1\n"
        "From: <sip:2002@10.20.0.5>\n\t;tag=fold1\n"
        "To: <sip:2001@10.20.0.5>\n"
        "Subject: first part\n   second part\n"
        "Call-ID: fold@x\nCSeq: 9 INFO"
    )
    msg = parse_message(data)
    assert msg.from_.tag == "fold1"
    assert msg.vias[0].branch == "z9hG4bKf1"
    assert msg.header("subject") == "first part second part"


def test_leading_crlf_keepalive_is_ignored():
    msg = parse_message(b"\r\n\r\n" + OPTIONS)
    assert msg.method == "OPTIONS"


def test_lines_without_colon_are_skipped_not_fatal():
    data = OPTIONS.replace(b"Max-Forwards: 70\r\n", b"garbage line\r\n: no name\r\n")
    msg = parse_message(data)
    assert msg.method == "OPTIONS" and msg.header("max-forwards") is None
    assert all(name for name, _ in msg.headers)


def test_values_stripped_and_headers_in_order():
    msg = parse_message(
        wire(
            "BYE sip:a@h SIP/2.0\nFrom :   <sip:b@h>;tag=1   \nTo:<sip:a@h>\t\nCall-ID: x \n"
            "CSeq: 2 BYE\nX-A: 1\nX-A: 2"
        )
    )
    assert msg.headers[:4] == (
        ("from", "<sip:b@h>;tag=1"),
        ("to", "<sip:a@h>"),
        ("call-id", "x"),
        ("cseq", "2 BYE"),
    )
    assert msg.header_all("x-a") == ["1", "2"] and msg.header("X-A") == "1"


# --- Via ------------------------------------------------------------------------------------


def test_kamailio_two_vias_and_record_route():
    msg = parse_message(KAMAILIO_INVITE)
    assert [(v.host, v.port, v.branch) for v in msg.vias] == [
        ("10.20.0.2", None, "z9hG4bK4b3c.6e9f1a7d2c1b0e8f.0"),
        ("198.51.100.7", 5060, "z9hG4bK7e1d2a9c"),
    ]
    assert msg.header_all("record-route") == [
        "<sip:10.20.0.2;lr;ftag=as5f2e1c7b;did=7a1.b3e1>",
        "<sip:10.20.0.3;r2=on;lr>, <sip:192.0.2.3;r2=on;lr>",
    ]
    assert msg.from_.display == "ACME Trunk" and msg.to.uri.host == "pbx.example.go.kr"


def test_comma_joined_via_split_top_first():
    data = KAMAILIO_INVITE.replace(
        b"Via: SIP/2.0/UDP 10.20.0.2;branch=z9hG4bK4b3c.6e9f1a7d2c1b0e8f.0\r\nVia: ",
        b"Via: SIP/2.0/UDP 10.20.0.2;branch=z9hG4bK4b3c.6e9f1a7d2c1b0e8f.0 , ",
    )
    msg = parse_message(data)
    assert [v.branch for v in msg.vias] == ["z9hG4bK4b3c.6e9f1a7d2c1b0e8f.0", "z9hG4bK7e1d2a9c"]
    assert len(msg.header_all("via")) == 1


def test_via_comma_inside_quoted_parameter_is_not_a_separator():
    vias = parse_via(
        'SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1;x-note="a,b", SIP/2.0/TLS [2001:db8::7]:5061;'
        "branch=z9hG4bK2"
    )
    assert [(v.transport, v.host, v.port, v.branch) for v in vias] == [
        ("UDP", "10.0.0.1", None, "z9hG4bK1"),
        ("TLS", "2001:db8::7", 5061, "z9hG4bK2"),
    ]
    assert vias[0].params["x-note"] == "a,b"


def test_via_with_spaces_around_slashes_and_websocket_transport():
    (via,) = parse_via("SIP / 2.0 / WSS df7jal23ls0d.invalid;branch=z9hG4bKnashds7")
    assert (via.transport, via.host, via.port) == ("WSS", "df7jal23ls0d.invalid", None)


def test_unreadable_via_is_skipped_but_kept_in_headers():
    data = OPTIONS.replace(
        b"Via: SIP/2.0/UDP 10.20.0.5:5060;rport;branch=z9hG4bKPjf3e2d1c0\r\n",
        b"Via: garbage\r\nVia: SIP/2.0/UDP 10.20.0.5:5060;rport;branch=z9hG4bKPjf3e2d1c0\r\n",
    )
    msg = parse_message(data)
    assert [v.branch for v in msg.vias] == ["z9hG4bKPjf3e2d1c0"]
    assert msg.header_all("via")[0] == "garbage"
    with pytest.raises(SipParseError, match="Via without"):
        parse_via("garbage")


# --- bodies -----------------------------------------------------------------------------------


def test_extra_bytes_after_the_body_are_ignored():
    msg = parse_message(UPDATE_HOLD + b"\r\n\r\nOPTIONS sip:junk SIP/2.0\r\n")
    assert msg.body == SENDONLY_SDP.encode()


def test_body_shorter_than_content_length_is_kept():
    msg = parse_message(UPDATE_HOLD[:-40])
    assert msg.body == SENDONLY_SDP.encode()[:-40]
    assert msg.method == "UPDATE"


def test_body_without_content_length_is_the_rest():
    data = wire(
        "MESSAGE sip:a@h SIP/2.0\nFrom: <sip:b@h>;tag=1\nTo: <sip:a@h>\nCall-ID: x\n"
        "CSeq: 1 MESSAGE",
        "hello\r\n",
        length=False,
    )
    assert parse_message(data).body == b"hello\r\n"


def test_unreadable_content_length_means_the_rest():
    data = wire(
        "MESSAGE sip:a@h SIP/2.0\nFrom: <sip:b@h>;tag=1\nTo: <sip:a@h>\nCall-ID: x\n"
        "CSeq: 1 MESSAGE\nl: -5",
        "hello",
        length=False,
    )
    assert parse_message(data).body == b"hello"


def test_compact_content_length():
    data = wire(
        "MESSAGE sip:a@h SIP/2.0\nf: <sip:b@h>;tag=1\nt: <sip:a@h>\ni: x\nCSeq: 1 MESSAGE\nl: 3",
        "hello",
        length=False,
    )
    assert parse_message(data).body == b"hel"


def test_headers_without_blank_line_have_empty_body():
    data = b"BYE sip:a@h SIP/2.0\r\nFrom: <sip:b@h>;tag=1\r\nTo: <sip:a@h>\r\nCall-ID: x\r\nCSeq: 2 BYE"
    msg = parse_message(data)
    assert msg.cseq_method == "BYE" and msg.body == b""


def test_memoryview_and_bytearray_input():
    assert parse_message(memoryview(OPTIONS)) == parse_message(OPTIONS)
    assert parse_message(bytearray(OPTIONS)).call_id == "9a8b7c6d-5e4f-3a2b-1c0d-efaabbccddee"


# --- REFER, NOTIFY, PRACK, UPDATE, REGISTER, OPTIONS ------------------------------------------


def test_yealink_attended_transfer_refer_to_with_replaces():
    msg = parse_message(YEALINK_REFER)
    target = parse_name_addr(msg.header("refer-to"))
    assert target.user == "2003"
    assert target.uri.host == "10.20.0.5" and target.uri.params == {}
    replaces_text = target.uri.headers["Replaces"]
    assert replaces_text == "77e1b2c3-5d4e@10.20.0.21;to-tag=3b9f1c2a;from-tag=1967226013"
    assert target.uri.headers["replaces"] == replaces_text
    assert list(target.uri.headers) == ["replaces"]
    assert parse_replaces(replaces_text) == Replaces(
        "77e1b2c3-5d4e@10.20.0.21", "3b9f1c2a", "1967226013", False
    )
    assert parse_name_addr(msg.header("referred-by")).user == "2001"


def test_polycom_blind_refer_with_compact_refer_to_and_referred_by():
    msg = parse_message(POLYCOM_BLIND_REFER)
    assert msg.method == "REFER"
    assert parse_name_addr(msg.header("refer-to")).user == "2005"
    assert parse_name_addr(msg.header("Referred-By")).user == "2004"
    assert msg.from_.tag == "A1B2C3D4-E5F6A7B8" and msg.to.display == "0212345678"


def test_notify_with_sipfrag():
    msg = parse_message(NOTIFY_SIPFRAG)
    assert msg.content_type == "message/sipfrag"
    assert msg.header("event") == "refer"
    assert sipfrag_status(msg.body) == 200
    assert sdp_direction(msg.body) is None


def test_prack_and_rack():
    msg = parse_message(PRACK)
    assert msg.method == "PRACK" and msg.header("rack") == "1 12750 INVITE"
    assert msg.to.tag == "1408239172"


def test_update_with_sendonly_sdp():
    msg = parse_message(UPDATE_HOLD)
    assert msg.method == "UPDATE" and sdp_direction(msg.body) == "sendonly"


def test_register_contact_with_quoted_instance_and_expires():
    msg = parse_message(REGISTER)
    contact = msg.contact
    assert contact is not None and contact.user == "2001" and contact.uri.port == 5062
    assert contact.params == {
        "+sip.instance": "<urn:uuid:00000000-0000-1000-8000-805ec0a1b2c3>",
        "expires": "3600",
    }
    assert msg.from_.uri.port == 5060 and msg.to.tag is None


def test_register_contact_star_is_none():
    msg = parse_message(REGISTER.replace(b"Contact: <sip:2001@10.20.0.21:5062>;", b"Contact: *;"))
    assert msg.header("contact").startswith("*")
    data = REGISTER.split(b"Contact: ")[0] + b"Contact: *\r\nExpires: 0\r\n\r\n"
    assert parse_message(data).contact is None


def test_contact_absent_or_unreadable_is_none():
    assert parse_message(PRACK).contact is None
    assert parse_message(OPTIONS.replace(b"Contact: <sip:", b"Contact: <bad")).contact is None


def test_first_of_comma_joined_contacts():
    data = OPTIONS.replace(
        b"Contact: <sip:2001@10.20.0.5:5060>",
        b'Contact: "Kim, Minji" <sip:2001@10.20.0.5:5060>, <sip:2001@10.20.0.99>',
    )
    contact = parse_message(data).contact
    assert contact.display == "Kim, Minji" and contact.uri.host == "10.20.0.5"


def test_options_request_uri_params_and_to_uri_params():
    msg = parse_message(OPTIONS)
    assert msg.request_uri.params == {"rinstance": "4f6b2a1e"}
    assert msg.to.uri.params == {"rinstance": "4f6b2a1e"} and msg.to.params == {}


# --- URIs and name-addr ------------------------------------------------------------------------


def test_addr_spec_from_tag_is_a_header_param():
    na = parse_name_addr("sip:2001@10.20.0.5;tag=x9")
    assert na.tag == "x9" and na.uri.params == {} and na.display is None
    na = parse_name_addr("<sip:2001@10.20.0.5;transport=tcp>;tag=x9")
    assert na.tag == "x9" and na.uri.params == {"transport": "tcp"}


def test_tel_uri():
    assert parse_uri("tel:+821012345678") == Uri("tel", "+821012345678", None, None)
    na = parse_name_addr("<tel:+82-2-123-4567;phone-context=+82>;tag=t1")
    assert na.user == "+82-2-123-4567" and na.uri.host is None
    assert na.uri.params == {"phone-context": "+82"} and na.tag == "t1"


def test_sips_uri_and_user_phone():
    uri = parse_uri("sips:+1-(212)-555.1212;isub=12@gw.example.com:5061;user=phone")
    assert (uri.scheme, uri.user, uri.host, uri.port) == (
        "sips",
        "+1-(212)-555.1212;isub=12",
        "gw.example.com",
        5061,
    )
    assert uri.params == {"user": "phone"}


def test_user_part_unescaped_and_password_dropped():
    uri = parse_uri("sip:%ED%99%8D%20gil:secret@Example.COM")
    assert uri.user == "홍 gil" and uri.host == "example.com"


def test_ipv6_hosts():
    uri = parse_uri("sip:2001@[2001:db8::10]:5070;transport=udp")
    assert (uri.host, uri.port) == ("2001:db8::10", 5070)
    assert parse_uri("sip:[::1]").host == "::1" and parse_uri("sip:[::1]").port is None
    msg = parse_message(
        wire(
            "BYE sip:2001@[2001:db8::10]:5070 SIP/2.0\nVia: SIP/2.0/UDP [2001:db8::20]:5060;"
            "branch=z9hG4bK6\nFrom: <sip:a@[2001:db8::20]>;tag=1\nTo: <sip:2001@[2001:db8::10]>"
            "\nCall-ID: v6\nCSeq: 3 BYE"
        )
    )
    assert msg.vias[0].host == "2001:db8::20" and msg.vias[0].port == 5060
    assert msg.from_.uri.host == "2001:db8::20"
    with pytest.raises(SipParseError, match="IPv6"):
        parse_uri("sip:[2001:db8::1")


def test_other_schemes_keep_raw_text():
    uri = parse_uri("urn:service:sos")
    assert (uri.scheme, uri.user, uri.host, uri.raw) == ("urn", None, None, "urn:service:sos")
    assert str(parse_uri("mailto:a@b.c")) == "mailto:a@b.c"
    with pytest.raises(SipParseError, match="no scheme"):
        parse_uri("2001@10.20.0.5")


def test_bad_port_is_none():
    assert parse_uri("sip:a@h:99999").port is None
    assert parse_uri("sip:a@h:abc").port is None


def test_sip_uri_with_empty_host_keeps_the_user():
    # sipp writes this when a scenario's remote address is missing; the user still counts.
    uri = parse_uri("sip:01012345678@:5060")
    assert (uri.user, uri.host, uri.port) == ("01012345678", None, 5060)
    for text in ("sip:", "sip:@", "sip::5060", "sips:;transport=tls"):
        with pytest.raises(SipParseError, match="without user or host"):
            parse_uri(text)


def test_quoted_display_with_escapes():
    na = parse_name_addr(r'"Kim \"The Boss\" \\ Minji" <sip:2001@pbx>;tag=1')
    assert na.display == 'Kim "The Boss" \\ Minji' and na.tag == "1"


def test_unquoted_display_and_empty_display():
    assert parse_name_addr("Kim Minji <sip:2001@pbx>").display == "Kim Minji"
    assert parse_name_addr('"" <sip:2001@pbx>').display is None
    assert parse_name_addr("<sip:2001@pbx>").display is None


def test_name_addr_errors():
    with pytest.raises(SipParseError, match="empty"):
        parse_name_addr("  ")
    with pytest.raises(SipParseError, match="without <URI>"):
        parse_name_addr('"Kim" sip:2001@pbx')
    with pytest.raises(SipParseError, match="'<' without '>'"):
        parse_name_addr("<sip:2001@pbx")


def test_korean_utf8_display_name():
    korean = 'From: "민원실 김민지" <sip:2001@10.20.0.5>'.encode()
    msg = parse_message(OPTIONS.replace(b"From: <sip:2001@10.20.0.5>", korean))
    assert msg.from_.display == "민원실 김민지" and msg.from_.user == "2001"


def test_invalid_utf8_never_crashes_and_is_kept_latin1():
    korean = 'From: "김" <sip:2001@10.20.0.5>'.encode()
    data = OPTIONS.replace(b"User-Agent: Asterisk PBX 20.5.0", b"User-Agent: Bad \xff\xfe UA")
    data = data.replace(b"From: <sip:2001@10.20.0.5>", korean)
    msg = parse_message(data)
    assert msg.header("user-agent") == "Bad \xff\xfe UA"
    assert msg.header("user-agent").encode("latin-1") == b"Bad \xff\xfe UA"
    assert msg.from_.display == "김"  # valid lines still decode as UTF-8
    # Every value can be written out as UTF-8 (JSON, SQLite): no lone surrogates.
    for _, value in msg.headers:
        value.encode("utf-8")


def test_split_commas_respects_quotes_and_angle_brackets():
    assert split_commas('"a, b" <sip:x@y;p=1,2>, <sip:z@w>') == [
        '"a, b" <sip:x@y;p=1,2>',
        " <sip:z@w>",
    ]
    assert split_commas("a,b") == ["a", "b"]


def test_replaces_parsing():
    assert parse_replaces("abc@h;from-tag=f;to-tag=t;early-only") == Replaces(
        "abc@h", "t", "f", True
    )
    assert parse_replaces("abc@h") == Replaces("abc@h", None, None, False)
    with pytest.raises(SipParseError, match="Call-ID"):
        parse_replaces(";to-tag=t")


# --- SDP and sipfrag -----------------------------------------------------------------------------

WEBRTC_SDP = crlf("""
v=0
o=- 4611731400430051336 2 IN IP4 127.0.0.1
s=-
t=0 0
a=group:BUNDLE 0 1
a=extmap-allow-mixed
a=msid-semantic: WMS
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126
c=IN IP4 0.0.0.0
a=rtcp:9 IN IP4 0.0.0.0
a=ice-ufrag:Hs3x
a=ice-pwd:wX8y+8cC9u4GJ5aW8iL4pC0q
a=fingerprint:sha-256 7B:8B:F0:65:5F:78:E2:51:3B:AC:6F:F3:3F:46:1B:35
a=setup:actpass
a=mid:0
a=recvonly
a=rtcp-mux
a=rtpmap:111 opus/48000/2
m=video 9 UDP/TLS/RTP/SAVPF 96
c=IN IP4 0.0.0.0
a=mid:1
a=sendrecv
""")


def test_webrtc_savpf_sdp():
    # c=IN IP4 0.0.0.0 with a=rtcp-mux is ICE's placeholder address, still counted as hold
    # by RFC 2543 rules; the direction attribute is what a WebRTC phone actually uses.
    assert sdp_direction(WEBRTC_SDP.encode()) == "inactive"
    real = WEBRTC_SDP.replace("c=IN IP4 0.0.0.0", "c=IN IP4 192.0.2.44")
    assert sdp_direction(real.encode()) == "recvonly"


def test_sdp_session_level_direction_and_media_override():
    session = ASTERISK_SDP.replace("a=sendrecv\r\n", "").replace("t=0 0", "t=0 0\r\na=sendonly")
    assert sdp_direction(session.encode()) == "sendonly"
    both = session.replace("a=maxptime:150", "a=maxptime:150\r\na=inactive")
    assert sdp_direction(both.encode()) == "inactive"
    plain = ASTERISK_SDP.replace("a=sendrecv\r\n", "")
    assert sdp_direction(plain.encode()) == "sendrecv"


def test_sdp_rfc2543_hold():
    held = ASTERISK_SDP.replace("c=IN IP4 10.20.0.5", "c=IN IP4 0.0.0.0")
    assert sdp_direction(held.encode()) == "inactive"


def test_sdp_first_audio_stream_counts():
    sdp = crlf("""
v=0
o=- 1 1 IN IP4 10.0.0.1
s=-
c=IN IP4 10.0.0.1
t=0 0
m=video 5000 RTP/AVP 96
a=inactive
m=audio 4000 RTP/AVP 0
a=recvonly
m=audio 4002 RTP/AVP 0
a=sendonly
""")
    assert sdp_direction(sdp.encode()) == "recvonly"
    image_only = "v=0\r\nc=IN IP4 10.0.0.1\r\nm=image 4000 udptl t38\r\n"
    assert sdp_direction(image_only.encode()) == "sendrecv"


def test_sdp_direction_not_sdp():
    assert sdp_direction(b"") is None
    assert sdp_direction(b"SIP/2.0 200 OK\r\n") is None
    assert sdp_direction(b"v=0\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\nt=0 0\r\n") is None
    assert sdp_direction(b"\xff\xfe\x00garbage") is None


def test_sipfrag_status():
    assert sipfrag_status(b"SIP/2.0 100 Trying\r\n") == 100
    assert sipfrag_status(b"SIP/2.0 180 Ringing") == 180
    assert sipfrag_status(b"\r\nSIP/2.0 503 Service Unavailable\r\nRetry-After: 5\r\n") == 503
    assert sipfrag_status(b"SIP/2.0 200\n") == 200
    assert sipfrag_status(b"INVITE sip:a@b SIP/2.0\r\n") is None
    assert sipfrag_status(b"SIP/2.0 abc OK") is None
    assert sipfrag_status(b"") is None


# --- the value objects ------------------------------------------------------------------------


def test_messages_are_frozen_and_equal_to_dataclass_built_ones():
    msg = parse_message(KAMAILIO_INVITE)
    assert type(msg) is SipMessage and type(msg.vias[0]) is Via
    assert type(msg.from_) is NameAddr and type(msg.from_.uri) is Uri
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.call_id = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        msg.vias[0].host = "x"  # type: ignore[misc]
    rebuilt = SipMessage(*(getattr(msg, f.name) for f in dataclasses.fields(SipMessage) if f.init))
    assert rebuilt == msg and hash(rebuilt) == hash(msg)
    assert rebuilt.header("record-route") == msg.header("record-route") is not None
    assert rebuilt.contact == msg.contact and rebuilt.content_type == "application/sdp"
    changed = dataclasses.replace(msg, headers=(("call-id", "other"),))
    assert changed.header("call-id") == "other" and changed.header("record-route") is None
    via = msg.vias[0]
    assert Via(via.transport, via.host, via.port, via.branch, dict(via.params)) == via
    assert dataclasses.replace(msg, cseq=103).cseq == 103
    assert "_first" not in repr(msg)


def test_parsed_values_are_read_only():
    msg = parse_message(YEALINK_REFER)
    with pytest.raises(TypeError):
        msg.from_.params["tag"] = "x"  # type: ignore[index]
    with pytest.raises(TypeError):
        msg.vias[0].params["branch"] = "x"  # type: ignore[index]


def test_same_text_parses_the_same_every_time():
    first = parse_message(ASTERISK_INVITE)
    again = parse_message(ASTERISK_INVITE)
    assert first == again and first.from_ is again.from_  # shared, immutable
