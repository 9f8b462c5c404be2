"""Bus topics, payloads and masking, without a broker.

The fixture captures run through the core pipeline with examples/site.toml; the tests check
which topic each output lands on, that ids are stable and unique, and that no caller number
leaves unmasked on the public topics.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callwatch.bus.payloads import PayloadBuilder
from callwatch.bus.topics import UNASSIGNED, Topics, decode_level, encode_level, event_department
from callwatch.capture import read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallbackNews, CallPipeline, JudgedCall, Output
from callwatch.privacy import mask_number, mask_party
from callwatch.sip.events import Alerting, Offered
from callwatch.store.codec import decode_output

ROOT = Path(__file__).resolve().parent.parent
SITE = load_site(ROOT / "examples" / "site.toml")
FIXTURES = sorted((ROOT / "sip_fixtures").glob("*.pcap"))
CUSTOMERS = ("01012345678", "0613398731")


def outputs_of(pcap: Path) -> list[Output]:
    pipe = CallPipeline(SITE)
    out: list[Output] = []
    for packet in read_capture(pcap):
        out.extend(pipe.push(packet))
    out.extend(pipe.flush())
    return out


@pytest.fixture(scope="module")
def all_outputs() -> list[Output]:
    out: list[Output] = []
    for pcap in FIXTURES:
        out.extend(outputs_of(pcap))
    return out


# -- masking --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("01012345678", "010-****-5678"),
        ("010-1234-5678", "010-****-5678"),
        ("+82 10 1234 5678", "010-****-5678"),
        ("0101235678", "010-***-5678"),
        ("0212345678", "02-****-5678"),
        ("0613398731", "061-***-8731"),
        ("05051234567", "0505-***-4567"),
        ("15881234", "****-1234"),
        ("0101234", "***-1234"),
        ("2001", "2001"),
        ("112", "112"),
        ("anonymous", "anonymous"),
        ("", ""),
    ],
)
def test_mask_number(number: str, masked: str) -> None:
    assert mask_number(number) == masked


@given(st.text(alphabet="0123456789", min_size=5, max_size=16))
def test_mask_number_hides_every_middle_digit(digits: str) -> None:
    masked = mask_number(digits)
    assert masked.endswith(digits[-4:])
    shown = masked.replace("-", "").replace("*", "")
    assert len(shown) <= 4 + 4  # at most a prefix and the last four
    assert masked.count("*") >= len(digits) - 4 - 4
    assert sum(c.isdigit() or c == "*" for c in masked) == len(digits)


def test_mask_party_keeps_the_office_side() -> None:
    is_ours = SITE.directory.is_ours
    assert mask_party("2001", is_ours) == "2001"
    assert mask_party("0613390000", is_ours) == "0613390000"  # a department's public number
    assert mask_party("01012345678", is_ours) == "010-****-5678"
    assert mask_party(None, is_ours) is None


# -- topics ---------------------------------------------------------------------------------


def test_topic_names() -> None:
    topics = Topics("naju-cityhall")
    assert topics.events("민원") == "callwatch/naju-cityhall/events/민원"
    assert topics.breaches("세무") == "callwatch/naju-cityhall/breaches/세무"
    assert topics.calls(None) == "callwatch/naju-cityhall/calls/_unassigned"
    assert topics.status == "callwatch/naju-cityhall/status"
    assert topics.shared("callwatch", "calls") == "$share/callwatch/callwatch/naju-cityhall/calls/#"
    with pytest.raises(ValueError, match="unknown topic kind"):
        topics.filter("nope")


def test_levels_escape_separators_and_wildcards() -> None:
    assert encode_level("민원") == "민원"
    assert encode_level("a/b") == "a%2Fb"
    assert encode_level("+#") == "%2B%23"
    assert encode_level("x\x00y") == "x%00y"
    assert encode_level("100%") == "100%25"
    assert encode_level("") == UNASSIGNED
    assert encode_level(None) == UNASSIGNED
    assert decode_level("a%2Fb%25") == "a/b%"


@given(st.text(min_size=1))
def test_levels_round_trip(name: str) -> None:
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return
    level = encode_level(name)
    assert not set(level) & {"/", "+", "#", "\x00"}
    assert decode_level(level) == name


def test_event_department() -> None:
    d = SITE.directory
    base = {"at": 1, "leg": "l", "call_id": "c"}
    # an external caller dialling the public number: the number's department
    offered = Offered(**base, from_user="01012345678", to_user="0613390000", dialled="0613390000")
    assert event_department(offered, d) == "민원"
    # a staff callee decides over a staff caller (the phone that rings)
    internal = Alerting(**base, from_user="2001", to_user="3001")
    assert event_department(internal, d) == "세무"
    outbound = Alerting(**base, from_user="3002", to_user="01012345678")
    assert event_department(outbound, d) == "세무"
    transit = Alerting(**base, from_user="01011112222", to_user="0219998888")
    assert event_department(transit, d) is None


# -- payloads -------------------------------------------------------------------------------


def test_every_event_and_breach_has_a_unique_stable_id(all_outputs: list[Output]) -> None:
    first = list(PayloadBuilder(SITE, calls=True).build(all_outputs))
    again = list(PayloadBuilder(SITE, calls=True).build(all_outputs))
    assert [m.id for m in first] == [m.id for m in again]
    assert [m.payload for m in first] == [m.payload for m in again]
    ids = [m.id for m in first if m.kind in ("event", "breach", "call")]
    assert len(ids) == len(set(ids))
    for m in first:
        body = json.loads(m.payload)
        assert body["id"] == m.id
        assert body["site"] == SITE.name


def test_breaches_match_the_failed_verdicts(all_outputs: list[Output]) -> None:
    expected = {}
    for item in all_outputs:
        if isinstance(item, JudgedCall):
            for n, v in enumerate(item.verdicts):
                if not v.ok:
                    index = [w.rule for w in item.verdicts[:n]].count(v.rule)
                    expected[f"{item.call.id}:{v.rule}:{index}"] = (item.call.department, v)
        elif isinstance(item, CallbackNews):
            for v in item.verdicts:
                if not v.ok:
                    cb = item.callback
                    expected[f"{cb.call}:callback:{cb.status}"] = (cb.department, v)
    assert len(expected) >= 5, "the fixtures should hold several breaches"
    breaches = [m for m in PayloadBuilder(SITE).build(all_outputs) if m.kind == "breach"]
    assert {m.id for m in breaches} == set(expected)
    for m in breaches:
        body = json.loads(m.payload)
        dept, verdict = expected[m.id]
        assert m.topic == Topics(SITE.name).breaches(dept)
        assert (body["rule"], body["charter"], body["measured"], body["limit"]) == (
            verdict.rule,
            verdict.charter,
            verdict.measured,
            verdict.limit,
        )
        assert body["department"] == dept
        assert body["caller"] in ("010-****-5678", "061-***-8731", "unavailable")
        assert body["at"].endswith("Z")


def test_public_payloads_never_hold_a_caller_number(all_outputs: list[Output]) -> None:
    messages = list(PayloadBuilder(SITE, calls=True).build(all_outputs))
    public = [m for m in messages if m.kind in ("event", "breach")]
    assert public
    for m in public:
        for number in CUSTOMERS:
            assert number not in m.payload, (m.topic, m.payload)
            assert number not in m.topic
    # the worker topics are lossless: the store needs the real numbers
    lossless = [m for m in messages if m.kind in ("call", "callback")]
    assert any(CUSTOMERS[0] in m.payload for m in lossless)


def test_reveal_numbers_setting(all_outputs: list[Output]) -> None:
    public = [m for m in PayloadBuilder(SITE, reveal_numbers=True).build(all_outputs)]
    assert any(CUSTOMERS[0] in m.payload for m in public if m.kind == "breach")
    assert any(CUSTOMERS[0] in m.payload for m in public if m.kind == "event")


def test_events_of_a_leg_share_a_topic(all_outputs: list[Output]) -> None:
    topics: dict[str, set[str]] = {}
    for m in PayloadBuilder(SITE).build(all_outputs):
        if m.kind == "event":
            topics.setdefault(json.loads(m.payload)["leg"], set()).add(m.topic)
    assert topics
    assert all(len(t) == 1 for t in topics.values())


def test_call_payload_decodes_to_the_judged_call(all_outputs: list[Output]) -> None:
    judged = [o for o in all_outputs if isinstance(o, JudgedCall)]
    messages = [m for m in PayloadBuilder(SITE, calls=True).build(judged) if m.kind == "call"]
    assert len(messages) == len(judged)
    for m, j in zip(messages, judged, strict=True):
        body = json.loads(m.payload)
        back = decode_output(body, SITE.profiles)
        assert isinstance(back, JudgedCall)
        assert back.call == j.call
        assert back.verdicts == j.verdicts
        assert back.profile.id == j.profile.id
