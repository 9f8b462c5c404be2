"""A trainer never sees a caller's number: not in calls, events, SIP text or breaches."""

from __future__ import annotations

import pytest

import test_api_fixtures as fa
import test_store_fixtures as fx
from callwatch.api.masking import Masker

api = fa.api
filled_store = fa.filled_store
_filled_file = fa._filled_file

OURS = {"2000", "2001", "2002", "3000", "3001", "0613390000"}


def masker() -> Masker:
    return Masker(fx.site().directory.is_ours)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("01012345678", "010-****-5678"),
        ("+82 10-1234-5678", "010-****-5678"),
        ("0613398731", "061-***-8731"),
        ("2001", "2001"),
        ("0613390000", "0613390000"),
        ("2026-11-23", "2026-11-23"),
        ("2026-11-23T11:17:45.581537Z", "2026-11-23T11:17:45.581537Z"),
        (
            "INVITE sip:01012345678@10.0.0.1:5060 SIP/2.0",
            "INVITE sip:010-****-5678@10.0.0.1:5060 SIP/2.0",
        ),
        (
            'From: "0613398731" <sip:0613398731@h>;tag=1',
            'From: "061-***-8731" <sip:061-***-8731@h>;tag=1',
        ),
        ("P-Asserted-Identity: <tel:+821012345678>", "P-Asserted-Identity: <tel:010-****-5678>"),
        (
            "Contact: <sip:01012345678@192.168.100.200:5060>",
            "Contact: <sip:010-****-5678@192.168.100.200:5060>",
        ),
        ("To: <sip:2001@127.0.0.1:5060>", "To: <sip:2001@127.0.0.1:5060>"),
        ("m=audio 6000 RTP/AVP 0 8 101", "m=audio 6000 RTP/AVP 0 8 101"),
        ("c=IN IP4 192.168.100.200", "c=IN IP4 192.168.100.200"),
    ],
)
def test_masker_masks_foreign_numbers_only(text: str, shown: str) -> None:
    assert masker().text(text) == shown


def test_masker_seals_identifiers_that_hold_a_number_and_walks_nested_values() -> None:
    doc = {"call": "01012345678@pbx", "caller": "01012345678", "legs": ["01012345678@pbx"]}
    doc["events"] = [{"from": "01012345678", "at": "2026-11-23T00:00:00Z", "n": 3}]
    doc["id"] = "busy@callwatch.test"
    m = masker()
    out = m.value(doc)
    assert out["call"].startswith("ref-") and out["legs"] == [out["call"]]
    assert "1234" not in out["call"] and m.resolve(out["call"]) == "01012345678@pbx"
    assert out["id"] == "busy@callwatch.test" and m.resolve("busy@callwatch.test") == out["id"]
    assert out["caller"] == "010-****-5678" and out["events"][0]["from"] == "010-****-5678"
    assert out["events"][0]["n"] == 3 and doc["caller"] == "01012345678"
    forged = out["call"][:-2] + ("AA" if out["call"][-2:] != "AA" else "BB")
    assert m.resolve(forged) is None and m.resolve("ref-!!") is None
    other = Masker(fx.site().directory.is_ours, key=b"k" * 32)
    assert other.resolve(out["call"]) is None


def test_the_scan_finds_numbers_in_any_format() -> None:
    for text in (
        "x 01012345678",
        "010-1234-5678",
        "+82-10-1234-5678",
        "061 339 8731",
        "+82613398731",
    ):
        assert fa.unmasked_numbers(text), text
    assert not fa.unmasked_numbers("010-****-5678 061-***-8731 2026-11-23T11:17:45Z")


async def test_a_trainer_never_sees_an_unmasked_number(api: fa.Api) -> None:
    breaches = await api.get("/api/breaches", who="trainer", limit=500)
    assert breaches.status_code == 200
    bodies = {"/api/breaches": breaches.text}
    ids = [r["call"] for r in fx.expected_rows(fa.api_captures())]
    for call_id in ids:
        r = await api.get(f"/api/calls/{call_id}", who="trainer")
        assert r.status_code == 200, r.text
        bodies[call_id] = r.text
    bodies["/api/departments"] = (await api.get("/api/departments", who="trainer")).text
    for where, text in bodies.items():
        assert fa.unmasked_numbers(text) == [], where
    # the same documents carry the numbers for an admin, so the scan is not vacuous
    admin = (await api.get("/api/calls/missed-2h@callwatch.test")).text
    assert fa.unmasked_numbers(admin) == ["0613398731"]
    trainer = (await api.get("/api/calls/missed-2h@callwatch.test", who="trainer")).json()
    assert trainer["call"]["caller"] == "061-***-8731"
    assert trainer["call"]["callback"]["number"] == "061-***-8731"
    assert any("061-***-8731" in m["text"] for m in trainer["messages"])
    assert any(e.get("from") == "061-***-8731" for e in trainer["events"])
    masked = {b["caller"] for b in breaches.json()["items"]}
    assert masked <= {"010-****-5678", "061-***-8731", None} and masked


async def test_every_response_a_trainer_gets_is_scanned(api: fa.Api) -> None:
    """Refusals too: a 403 or 404 body must not echo a number either."""
    for path in (
        "/api/calls?department=민원",
        "/api/callbacks",
        "/api/compliance",
        "/api/calls/01012345678",
        "/api/breaches?extension=01012345678",
    ):
        r = await api.get(path, who="trainer")
        assert r.status_code in (200, 403, 404), path
        assert fa.unmasked_numbers(r.text) == [], path


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("sip:P01077770011@10.0.0.1", "sip:P010-****-0011@10.0.0.1"),
        ("Call-ID: 01077770014-callid@pbx", "Call-ID: 010-****-0014-callid@pbx"),
        ('From: "010 7777 0006" <sip:x@h>', 'From: "010-****-0006" <sip:x@h>'),
        ('From: "010.7777.0008" <sip:x@h>', 'From: "010-****-0008" <sip:x@h>'),
        ('From: "홍길동01077770007" <sip:x@h>', 'From: "홍길동010-****-0007" <sip:x@h>'),
        ("홍길동 010-7777-0009님", "홍길동 010-****-0009님"),
        ("(02) 123-4567", "02-***-4567"),
        ("o=01012345678 1 1 IN IP4 127.0.0.1", "o=010-****-5678 1 1 IN IP4 127.0.0.1"),
        # not numbers: left exactly as they are
        ("Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK-524287-1---77ba6f1f5d2c", None),
        ("Via: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK1234567890;rport", None),
        ("From: <sip:2001@h>;tag=1234567890", None),
        ("To: <sip:2001@h>;tag=as5f3c1d2e", None),
        ("X-Asterisk-Linkedid: 1795432603.12", None),
        ("c=IN IP4 192.168.100.200", None),
        ("2026-11-23T11:17:45.581537Z", None),
        ("CSeq: 102 INVITE", None),
        ("Date: Mon, 23 Nov 2026 11:17:45 GMT", None),
        # a branch or tag that holds a Korean number is masked all the same
        ("Via: x;branch=z9hG4bK01077770099", "Via: x;branch=z9hG4bK010-****-0099"),
    ],
)
def test_numbers_are_found_by_pattern_and_only_numbers(text: str, shown: str | None) -> None:
    assert masker().text(text) == (text if shown is None else shown)
