"""The same calls judged under all five charters give what the charters' texts imply."""

from __future__ import annotations

import pytest

from callwatch.calls.model import Call, Transfer
from callwatch.charter.callbacks import CallbackBook
from callwatch.charter.rules import callback, judge
from callwatch.charter.verdict import Detail, parse_detail
from callwatch.profile_files import builtin_profiles
from callwatch.timefmt import parse_iso

S = 1_000_000
MIN = 60 * S
T0 = parse_iso("2026-11-23T01:00:00Z")
PROFILES = builtin_profiles()
CHARTERS = ("naju", "wanju", "dangjin", "yangju", "mokpo")


def answered_call(ring_s: float, transfer_s: float | None, hangup_by: str) -> Call:
    call = Call(
        id="c",
        direction="inbound",
        caller="0613398731",
        dialled="2001",
        started_at=T0,
        department="민원",
        first_ring_at=T0 + S,
        answered_at=T0 + S + round(ring_s * S),
        answered_by="2001",
        ended_at=T0 + 300 * S,
        hangup_by=hangup_by,  # type: ignore[arg-type]
    )
    if transfer_s is not None:
        start = T0 + 60 * S
        call.transfers.append(
            Transfer("blind", "2001", "2002", start, start + round(transfer_s * S))
        )
    return call


def table(call: Call) -> dict[str, dict[str, bool]]:
    return {c: {v.rule: v.ok for v in judge(call, PROFILES[c])} for c in CHARTERS}


def test_a_13_second_transfer() -> None:
    got = table(answered_call(2.0, 13.0, "caller"))
    assert got == {
        "naju": {"answer": True, "transfer": False, "hangup": True},
        "wanju": {"answer": True, "transfer": False, "hangup": True},
        "dangjin": {"answer": True, "hangup": True},
        "yangju": {"answer": True, "hangup": True},
        "mokpo": {"answer": True, "transfer": False, "hangup": True},
    }


def test_a_late_answer_and_staff_hanging_up_break_every_charter() -> None:
    got = table(answered_call(7.0, 8.0, "agent"))
    for charter in CHARTERS:
        assert got[charter]["answer"] is False
        assert got[charter]["hangup"] is False
        assert got[charter].get("transfer", True) is True
    assert "transfer" not in got["dangjin"] and "transfer" not in got["yangju"]


def callback_outcome(charter: str, delay: int) -> tuple[str, list[bool]]:
    book = CallbackBook(lambda dept: PROFILES[charter])
    missed = Call(
        id="m",
        direction="inbound",
        caller="0613398731",
        dialled="2001",
        started_at=T0,
        department="민원",
        first_ring_at=T0 + S,
        ended_at=T0 + 20 * S,
        missed=True,
    )
    (cb,) = book.feed_call(missed)
    outbound = Call(
        id="o",
        direction="outbound",
        caller="2001",
        dialled="0613398731",
        started_at=cb.opened_at + delay,
        department="민원",
        answered_at=cb.opened_at + delay + 4 * S,
        ended_at=cb.opened_at + delay + 60 * S,
    )
    (done,) = book.feed_call(outbound)
    return done.status, [v.ok for v in callback(done, PROFILES[charter])]


@pytest.mark.parametrize(
    ("charter", "status", "verdicts"),
    [
        ("naju", "kept", [True]),
        ("mokpo", "kept", [True]),
        ("wanju", "late", [False]),
        ("dangjin", "kept", []),  # no time was promised: no deadline, no verdict
        ("yangju", "kept", []),  # no callback promise at all
    ],
)
def test_a_40_minute_callback(charter: str, status: str, verdicts: list[bool]) -> None:
    assert callback_outcome(charter, 40 * MIN) == (status, verdicts)


@pytest.mark.parametrize(
    ("charter", "status", "verdicts"),
    [
        ("naju", "late", [False]),
        ("mokpo", "kept", [True]),
        ("wanju", "late", [False]),
        ("dangjin", "kept", []),
        ("yangju", "kept", []),
    ],
)
def test_a_2_hour_callback(charter: str, status: str, verdicts: list[bool]) -> None:
    assert callback_outcome(charter, 120 * MIN) == (status, verdicts)


def test_callback_verdict_carries_delay_and_allowance() -> None:
    book = CallbackBook(lambda dept: PROFILES["naju"])
    missed = Call("m", "inbound", "0613398731", "2001", T0, "민원", ended_at=T0, missed=True)
    book.feed_call(missed)
    back = Call(
        "o", "outbound", "2003", "0613398731", T0 + 40 * MIN, "민원", answered_at=T0 + 41 * MIN
    )
    (done,) = book.feed_call(back)
    (v,) = judge(missed, PROFILES["naju"], done)
    assert (v.rule, v.ok, v.measured, v.limit) == ("callback", True, 2400.0, 3600.0)
    assert parse_detail(v.detail) == Detail("callback.kept", {"by": "2003"})
