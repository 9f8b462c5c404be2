"""The rules on hand-built calls: boundaries, absences, and what is never judged."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from callwatch.calls.model import Call, Transfer
from callwatch.charter.rules import answer, hangup, judge, rings_heard, transfer
from callwatch.charter.verdict import Detail, detail_code, parse_detail
from callwatch.profile_files import load_profile
from callwatch.timefmt import parse_iso

T0 = parse_iso("2026-11-23T01:00:00Z")
S = 1_000_000
NAJU = load_profile("naju")
MOKPO = load_profile("mokpo")
DANGJIN = load_profile("dangjin")


def inbound(ring_us: int | None, *, answered: bool = True, ended_us: int = 60 * S, **kw) -> Call:
    """A call whose first staff ring is at T0+1 s, answered ``ring_us`` later (or not)."""
    first_ring = T0 + S
    call = Call(
        id="c1",
        direction=kw.pop("direction", "inbound"),
        caller="0613398731",
        dialled="2001",
        started_at=T0,
        department="민원",
        first_ring_at=first_ring,
        ended_at=first_ring + ended_us,
        **kw,
    )
    if answered and ring_us is not None:
        call.answered_at = first_ring + ring_us
        call.answered_by = "2001"
    else:
        call.missed = True
    return call


@pytest.mark.parametrize(
    ("ring_us", "ok", "rings"),
    [
        (0, True, 1),
        (2_999_999, True, 1),
        (3_000_000, True, 2),
        (5_999_000, True, 2),
        (5_999_999, True, 2),
        (6_000_000, False, 3),
        (6_000_001, False, 3),
        (9_000_000, False, 4),
    ],
)
def test_answer_boundary_korea(ring_us: int, ok: bool, rings: int) -> None:
    (v,) = answer(inbound(ring_us), NAJU)
    assert (v.rule, v.charter, v.ok, v.rings) == ("answer", "naju", ok, rings)
    assert v.limit == 6.0 and v.limit_rings == 3
    assert v.measured == pytest.approx(ring_us / S)
    assert v.evidence == (f"first_ring@{T0 + S}", f"answered@{T0 + S + ring_us}")


def test_answer_under_a_us_cadence_profile(tmp_path: Path) -> None:
    path = tmp_path / "us.toml"
    path.write_text(
        'id = "us"\nsource_file = "-"\n[name]\nko = "미국"\nen = "US"\n'
        '[cadence]\non_s = 2.0\noff_s = 4.0\n[answer]\nbefore_ring = 3\nsource = "x"\n',
        encoding="utf-8",
    )
    us = load_profile(path)
    assert [rings_heard(t, us) for t in (0.0, 5.999, 6.0, 11.999, 12.0, 18.0)] == [1, 1, 2, 2, 3, 4]
    (v,) = answer(inbound(11_999_999), us)
    assert v.ok and v.rings == 2 and v.limit == 12.0
    (v,) = answer(inbound(12_000_000), us)
    assert not v.ok and v.rings == 3
    # The same 7 s ring passes in the US and fails in Korea.
    assert answer(inbound(7 * S), us)[0].ok
    assert not answer(inbound(7 * S), NAJU)[0].ok


def test_unanswered_to_the_limit_fails_with_its_ring_seconds() -> None:
    (v,) = answer(inbound(None, answered=False, ended_us=14_500_000), NAJU)
    assert not v.ok
    assert v.measured == 14.5 and v.rings == 5
    assert parse_detail(v.detail) == Detail("answer.unanswered", {})


def test_unanswered_exactly_at_the_limit_fails() -> None:
    (v,) = answer(inbound(None, answered=False, ended_us=6 * S), NAJU)
    assert not v.ok and v.measured == 6.0


def test_abandoned_before_the_limit_has_no_answer_verdict() -> None:
    assert answer(inbound(None, answered=False, ended_us=5_999_999), NAJU) == []


def test_no_staff_ring_no_answer_verdict() -> None:
    call = inbound(2 * S)
    call.first_ring_at = None
    assert answer(call, NAJU) == []


@pytest.mark.parametrize("direction", ["outbound", "internal", "external"])
def test_only_inbound_calls_are_judged(direction: str) -> None:
    call = inbound(9 * S, direction=direction, hangup_by="agent")
    call.transfers.append(Transfer("blind", "2001", "2002", T0 + 20 * S, T0 + 40 * S))
    assert judge(call, NAJU) == []


def test_incomplete_call_is_never_judged() -> None:
    call = inbound(None, answered=False, ended_us=30 * S, complete=False)
    call.transfers.append(Transfer("blind", "2001", "2002", T0 + 2 * S, None))
    call.hangup_by = "agent"
    assert judge(call, NAJU) == []
    # The same call, complete, breaks the rule: the flag is what protects it.
    call.complete = True
    assert [(v.rule, v.ok) for v in judge(call, NAJU)] == [("answer", False), ("transfer", False)]


def transferred(seconds_us: int | None, ended_after_us: int = 120 * S) -> Call:
    call = inbound(2 * S, hangup_by="caller")
    start = T0 + 30 * S
    connected = None if seconds_us is None else start + seconds_us
    call.transfers.append(Transfer("blind", "2001", "2002", start, connected, ("a", "b")))
    call.ended_at = start + ended_after_us
    return call


@pytest.mark.parametrize(
    ("seconds_us", "naju_ok", "mokpo_ok"),
    [(9_999_999, True, True), (10 * S, True, False), (10_000_001, False, False)],
)
def test_transfer_limit_inclusive_naju_strict_mokpo(
    seconds_us: int, naju_ok: bool, mokpo_ok: bool
) -> None:
    (v,) = transfer(transferred(seconds_us), NAJU)
    assert (v.ok, v.limit) == (naju_ok, 10.0)
    assert v.measured == pytest.approx(seconds_us / S)
    (v,) = transfer(transferred(seconds_us), MOKPO)
    assert v.ok is mokpo_ok


def test_transfer_that_never_connects_fails() -> None:
    (v,) = transfer(transferred(None, ended_after_us=25 * S), NAJU)
    assert not v.ok and v.measured == 25.0
    assert parse_detail(v.detail) == Detail(
        "transfer.never", {"kind": "blind", "from": "2001", "to": "2002"}
    )


def test_transfer_left_by_the_caller_before_the_limit_has_no_verdict() -> None:
    assert transfer(transferred(None, ended_after_us=4 * S), NAJU) == []


def test_transfer_absent_where_the_charter_gives_no_time() -> None:
    assert transfer(transferred(13 * S), DANGJIN) == []


def test_every_transfer_gets_its_own_verdict() -> None:
    call = transferred(4 * S)
    call.transfers.append(Transfer("attended", "2002", "2003", T0 + 60 * S, T0 + 75 * S))
    assert [(v.ok, v.measured) for v in transfer(call, NAJU)] == [(True, 4.0), (False, 15.0)]


@pytest.mark.parametrize(
    ("hangup_by", "expected"),
    [("caller", [True]), ("agent", [False]), ("system", []), (None, [])],
)
def test_hangup_who_sent_the_first_bye(hangup_by: str | None, expected: list[bool]) -> None:
    call = inbound(2 * S, hangup_by=hangup_by)
    assert [v.ok for v in hangup(call, NAJU)] == expected


def test_hangup_detail_says_the_handset_delay_is_not_judged() -> None:
    (v,) = hangup(inbound(2 * S, hangup_by="caller"), NAJU)
    assert parse_detail(v.detail) == Detail("hangup.caller", {"handset_delay_s": "1"})
    assert v.measured is None
    (v,) = hangup(inbound(2 * S, hangup_by="agent"), DANGJIN)
    assert parse_detail(v.detail) == Detail("hangup.agent", {})


def test_missed_call_has_no_hangup_verdict() -> None:
    call = inbound(None, answered=False, ended_us=20 * S, hangup_by="caller")
    assert hangup(call, NAJU) == []


def test_judge_runs_every_rule() -> None:
    call = transferred(13 * S)
    call.hangup_by = "agent"
    got = [(v.rule, v.ok) for v in judge(call, NAJU)]
    assert got == [("answer", True), ("transfer", False), ("hangup", False)]


@given(ring_us=st.integers(min_value=0, max_value=120 * S))
def test_answer_ok_exactly_when_fewer_rings_than_the_limit_were_heard(ring_us: int) -> None:
    (v,) = answer(inbound(ring_us), NAJU)
    assert v.ok is (v.rings < 3)
    assert v.ok is (ring_us < 6 * S)
    assert v.rings == ring_us // (3 * S) + 1


def test_answer_stamped_before_the_ring_counts_as_immediate() -> None:
    (v,) = answer(inbound(-200_000), NAJU)
    assert v.ok and v.measured == 0.0 and v.rings == 1


def test_detail_codes_are_facts_not_prose() -> None:
    code = detail_code("transfer.connected", kind="blind", from_="20 02", to="a=b", none=None)
    assert code == "transfer.connected kind=blind from=20%2002 to=a%3Db"
    assert parse_detail(code) == Detail(
        "transfer.connected", {"kind": "blind", "from": "20 02", "to": "a=b"}
    )
    assert parse_detail(detail_code("hangup.caller", handset_delay_s=2.0)) == Detail(
        "hangup.caller", {"handset_delay_s": "2"}
    )
    # free text (details stored by earlier versions) is not a code
    for text in ("", "kept by 3001", "first BYE from the caller; ...", "답변 없음 😀"):
        assert parse_detail(text) is None
