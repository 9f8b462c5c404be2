"""The call assembler, driven with leg-event sequences that mirror real SIP flows.

Each test states its flow in a comment, one line per event: ``t  leg  event``. Times are
seconds after T0. ``L1`` is normally the trunk leg (carrier ↔ PBX), ``L2``… phone legs
(PBX ↔ staff phone) on their own Call-IDs, as Asterisk does.

Directory: 민원 has extensions 2001-2009 and 2100, numbers 0613390000 and ring group 2000;
세무 has 3001-3009 and number 0613391000. Customers: 0613398731, 0101112222.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from callwatch.calls.assembler import CallAssembler
from callwatch.calls.directory import Department, Directory
from callwatch.calls.model import Call
from callwatch.pbx.proxy import PROXY
from callwatch.sip.events import (
    Alerting,
    Answered,
    Ended,
    Held,
    LegEvent,
    Offered,
    Referred,
    Resumed,
    Side,
    TransferProgress,
)

S = 1_000_000
T0 = 1_795_000_000 * S
CUSTOMER = "0613398731"
OTHER = "0101112222"


def at(seconds: float) -> int:
    return T0 + round(seconds * S)


DIRECTORY = Directory(
    [
        Department("민원", "Civil Affairs", ("2001-2009", "2100"), ("0613390000", "2000")),
        Department("세무", "Tax", ("3001-3009",), ("0613391000",)),
    ],
    default_charter="naju",
)


@dataclasses.dataclass
class L:
    """Builds the events of one leg (one Call-ID, one From tag)."""

    name: str
    frm: str | None
    to: str | None
    call_id: str = ""

    def __post_init__(self) -> None:
        self.call_id = self.call_id or f"{self.name}-callid@pbx"

    def _base(self, t: float) -> dict[str, object]:
        return {
            "at": at(t),
            "leg": self.name,
            "call_id": self.call_id,
            "from_user": self.frm,
            "to_user": self.to,
        }

    def invite(
        self,
        t: float,
        *,
        dialled: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
        correlation_id: str | None = None,
    ) -> Offered:
        return Offered(
            **self._base(t),
            dialled=dialled or self.to,
            headers=headers,
            correlation_id=correlation_id,
        )

    def ring(self, t: float, by: str | None = None) -> Alerting:
        return Alerting(**self._base(t), by=by)

    def answer(self, t: float, by: str | None = None) -> Answered:
        return Answered(**self._base(t), by=by)

    def hold(self, t: float, by: Side) -> Held:
        return Held(**self._base(t), by=by)

    def resume(self, t: float, by: Side) -> Resumed:
        return Resumed(**self._base(t), by=by)

    def refer(self, t: float, by: Side, to: str, replaces: str | None = None) -> Referred:
        return Referred(**self._base(t), by=by, refer_to=to, replaces=replaces)

    def notify(self, t: float, status: int) -> TransferProgress:
        return TransferProgress(**self._base(t), status=status)

    def end(self, t: float, by: Side | None, reason: str = "bye", answered: bool = True) -> Ended:
        return Ended(**self._base(t), by=by, reason=reason, answered=answered)


def assemble(events: list[LegEvent], **options: object) -> list[Call]:
    """Feed the events in order, then flush; every call handed out, in hand-out order."""
    assembler = CallAssembler(DIRECTORY, **options)  # type: ignore[arg-type]
    calls: list[Call] = []
    for event in events:
        calls += assembler.feed(event)
    return calls + assembler.flush()


def only(calls: list[Call]) -> Call:
    assert len(calls) == 1, [c.id for c in calls]
    return calls[0]


# -- single-leg calls (a proxy, or phone to phone) ---------------------------------------------


def test_simple_inbound_answered() -> None:
    # 0    L1 INVITE 0613398731 → 2001
    # 0.1  L1 180 from 2001;  4.1  L1 200;  30  L1 BYE from the caller
    l1 = L("L1", CUSTOMER, "2001")
    call = only(
        assemble([l1.invite(0), l1.ring(0.1, "2001"), l1.answer(4.1, "2001"), l1.end(30, "caller")])
    )
    assert (call.direction, call.caller, call.dialled) == ("inbound", CUSTOMER, "2001")
    assert call.department == "민원"
    assert (call.first_ring_at, call.answered_at) == (at(0.1), at(4.1))
    assert call.ring_seconds == 4.0
    assert call.answered_by == "2001"
    assert (call.hangup_by, call.end_reason, call.ended_at) == ("caller", "bye", at(30))
    assert not call.missed and call.complete
    assert call.correlation == "call-id"
    assert call.id == "L1-callid@pbx"
    assert [leg.role for leg in call.legs] == ["direct"]
    assert call.customer == CUSTOMER
    assert [e.kind for e in call.events] == ["offered", "alerting", "answered", "ended"]


def test_caller_cancels_while_ringing_is_missed() -> None:
    # 0    L1 INVITE 0613398731 → 2002;  0.2  L1 180;  12  L1 CANCEL from the caller
    l1 = L("L1", CUSTOMER, "2002")
    call = only(
        assemble([l1.invite(0), l1.ring(0.2), l1.end(12, "caller", "cancel", answered=False)])
    )
    assert call.missed
    assert call.answered_at is None and call.ring_seconds is None
    assert call.first_ring_at == at(0.2)
    assert (call.end_reason, call.hangup_by) == ("cancel", "caller")
    assert call.ended_at == at(12)


def test_busy() -> None:
    # 0    L1 INVITE 0613398731 → 2003;  0.3  L1 486 Busy Here from the phone
    l1 = L("L1", CUSTOMER, "2003")
    call = only(assemble([l1.invite(0), l1.end(0.3, "callee", "486", answered=False)]))
    assert call.missed
    assert (call.end_reason, call.hangup_by) == ("486", "system")
    assert call.first_ring_at is None


def test_agent_hangs_up_first() -> None:
    # 0  L1 INVITE 0613398731 → 2001;  0.1  180;  2  200;  45  BYE from the callee (2001)
    l1 = L("L1", CUSTOMER, "2001")
    call = only(assemble([l1.invite(0), l1.ring(0.1), l1.answer(2), l1.end(45, "callee")]))
    assert call.hangup_by == "agent"


def test_internal_call() -> None:
    # 0  L1 INVITE 2001 → 3002;  0.1  180;  3  200;  20  BYE from 3002
    l1 = L("L1", "2001", "3002")
    call = only(assemble([l1.invite(0), l1.ring(0.1), l1.answer(3), l1.end(20, "callee")]))
    assert call.direction == "internal"
    assert call.department == "세무"  # the first staff phone that rang
    assert (call.answered_by, call.hangup_by) == ("3002", "agent")
    assert not call.missed and call.customer is None


def test_transit_call_between_unknown_parties_counts_its_own_leg() -> None:
    # a public capture with no directory entries: 101 calls 201, 201 hangs up
    l1 = L("L1", "101", "201")
    call = only(assemble([l1.invite(0), l1.ring(0.05), l1.answer(4.3), l1.end(6.5, "callee")]))
    assert call.direction == "external"
    assert call.ring_seconds == 4.25
    assert (call.answered_by, call.hangup_by, call.department) == ("201", "agent", None)


# -- B2BUA legs ---------------------------------------------------------------------------


def test_b2bua_tied_by_x_cid_header() -> None:
    # 0     L1 INVITE 0613398731 → 0613390000 (trunk)         X-CID: abc
    # 7     L2 INVITE 0613398731 → 2001 (PBX → phone, late)  X-CID: abc
    # 7.1   L2 180; 7.11 L1 180;  9  L2 200; 9.01  L1 200
    # 60    L2 BYE from 2001;  60.01  L1 BYE from the PBX (callee side)
    l1 = L("L1", CUSTOMER, "0613390000")
    l2 = L("L2", CUSTOMER, "2001")
    cid = (("x-cid", "abc"),)
    events = [
        l1.invite(0, headers=cid),
        l2.invite(7, headers=cid),
        l2.ring(7.1, "2001"),
        l1.ring(7.11),
        l2.answer(9, "2001"),
        l1.answer(9.01),
        l2.end(60, "callee"),
        l1.end(60.01, "callee"),
    ]
    call = only(assemble(events, correlation_headers=["X-CID"]))
    assert call.correlation == "header:X-CID"
    assert [(leg.leg, leg.role) for leg in call.legs] == [("L1", "trunk"), ("L2", "phone")]
    assert (call.first_ring_at, call.answered_at, call.answered_by) == (at(7.1), at(9), "2001")
    assert (call.dialled, call.department) == ("0613390000", "민원")
    assert call.hangup_by == "agent"
    assert call.end_reason == "bye"
    assert call.id == "L1-callid@pbx"


def test_b2bua_tied_by_hep_correlation_id() -> None:
    # same as above without headers; the HEP agent sends correlation id "chan-7" on both legs
    l1 = L("L1", CUSTOMER, "0613390000")
    l2 = L("L2", CUSTOMER, "2001")
    events = [
        l1.invite(0, correlation_id="chan-7"),
        l2.invite(8, correlation_id="chan-7"),
        l2.answer(10),
        l1.answer(10.01),
        l1.end(30, "caller"),
        l2.end(30.01, "caller"),
    ]
    call = only(assemble(events))
    assert call.correlation == "hep"
    assert (call.answered_by, call.hangup_by) == ("2001", "caller")


def test_b2bua_without_header_joins_by_heuristic() -> None:
    # 0     L1 INVITE 0613398731 → 0613390000 (trunk)
    # 0.04  L2 INVITE 0613398731 → 2001 (PBX → phone)
    # 0.1   L2 180; 0.11 L1 180;  3  L2 200; 3.01  L1 200
    # 40    L1 BYE from the caller;  40.01  L2 BYE from the PBX (caller side of L2)
    l1 = L("L1", CUSTOMER, "0613390000")
    l2 = L("L2", CUSTOMER, "2001")
    events = [
        l1.invite(0),
        l2.invite(0.04),
        l2.ring(0.1),
        l1.ring(0.11),
        l2.answer(3),
        l1.answer(3.01),
        l1.end(40, "caller"),
        l2.end(40.01, "caller"),
    ]
    call = only(assemble(events))
    assert call.correlation == "heuristic"
    assert [leg.role for leg in call.legs] == ["trunk", "phone"]
    assert call.ring_seconds == 2.9
    assert call.hangup_by == "caller"


def test_heuristic_does_not_join_a_call_staff_already_answered() -> None:
    # 0    L1 INVITE 0613398731 → 2001 (direct dial), 0.1 180, 1.5 200: they are talking
    # 4    L2 INVITE 0613398731 → 2001 again (redial from another handset at home): within
    #      the B2BUA window, but L1 is a conversation, not a trunk leg waiting for a phone
    l1 = L("L1", CUSTOMER, "2001")
    l2 = L("L2", CUSTOMER, "2001")
    events = [
        l1.invite(0),
        l1.ring(0.1),
        l1.answer(1.5),
        l2.invite(4),
        l2.ring(4.1),
        l2.end(16, "callee", "480", answered=False),
        l1.end(20, "caller"),
    ]
    calls = assemble(events)
    assert sorted(c.id for c in calls) == ["L1-callid@pbx", "L2-callid@pbx"]
    assert all(c.correlation == "call-id" for c in calls)


def test_heuristic_does_not_join_outside_the_window() -> None:
    # 0   L1 INVITE 0613398731 → 0613390000, left ringing in a queue (no answer)
    # 6   L2 INVITE 0613398731 → 2001: 6 s > b2bua_window_s (5 s) → a call of its own
    l1 = L("L1", CUSTOMER, "0613390000")
    l2 = L("L2", CUSTOMER, "2001")
    events = [
        l1.invite(0),
        l2.invite(6),
        l2.ring(6.1),
        l2.end(9, "caller", "cancel", answered=False),
        l1.end(9.01, "caller", "cancel", answered=False),
    ]
    calls = assemble(events)
    assert [c.id for c in calls] == ["L1-callid@pbx", "L2-callid@pbx"]
    assert [c.correlation for c in calls] == ["call-id", "call-id"]
    assert calls[0].first_ring_at is None  # nobody on the staff rang for L1
    # a wider window joins them
    assert only(assemble(events, b2bua_window_s=7.0)).correlation == "heuristic"


def test_ivr_answer_is_not_a_staff_answer() -> None:
    # 0     L1 INVITE 0613398731 → 0613390000;  0.5  L1 200 by the PBX (IVR menu)
    # 20    L2 INVITE 0613398731 → 2003 (caller pressed 1; 19.5 s after the IVR answered)
    # 20.1  L2 180;  23.1  L2 200 (2003)
    # 50    L1 BYE from the caller;  50.01  L2 BYE from the PBX
    l1 = L("L1", CUSTOMER, "0613390000")
    l2 = L("L2", CUSTOMER, "2003")
    events = [
        l1.invite(0),
        l1.answer(0.5, by="s"),
        l2.invite(20),
        l2.ring(20.1, "2003"),
        l2.answer(23.1, "2003"),
        l1.end(50, "caller"),
        l2.end(50.01, "caller"),
    ]
    call = only(assemble(events))
    assert call.correlation == "heuristic"
    assert (call.first_ring_at, call.answered_at) == (at(20.1), at(23.1))
    assert call.ring_seconds == 3.0
    assert call.answered_by == "2003"
    assert not call.missed


def test_ivr_only_call_is_missed() -> None:
    # 0  L1 INVITE → 0613390000;  0.5  200 by the PBX (IVR);  30  BYE from the caller
    l1 = L("L1", CUSTOMER, "0613390000")
    call = only(assemble([l1.invite(0), l1.answer(0.5, by="s"), l1.end(30, "caller")]))
    assert call.direction == "inbound" and call.department == "민원"
    assert call.answered_at is None and call.missed
    assert call.hangup_by == "caller"


def test_ring_group_with_three_phone_legs() -> None:
    # 0     L1 INVITE 0613398731 → 2000 (ring group)
    # 0.02  L2 → 2001, L3 → 2002, L4 → 2003 (separate Call-IDs, Asterisk-style)
    # 0.10  L2 180;  0.15  L3 180;  0.2  L4 180;  0.21  L1 180
    # 5     L3 200 (2002);  5.01  L2, L4 CANCEL from the PBX;  5.01  L1 200
    # 40    L1 BYE from the caller;  40.01  L3 BYE from the PBX
    l1 = L("L1", CUSTOMER, "2000")
    l2, l3, l4 = (L(f"L{i}", CUSTOMER, f"200{i - 1}") for i in (2, 3, 4))
    events = [
        l1.invite(0),
        l2.invite(0.02),
        l3.invite(0.02),
        l4.invite(0.02),
        l2.ring(0.10),
        l3.ring(0.15),
        l4.ring(0.2),
        l1.ring(0.21),
        l3.answer(5, "2002"),
        l2.end(5.01, "caller", "cancel", answered=False),
        l4.end(5.01, "caller", "cancel", answered=False),
        l1.answer(5.01),
        l1.end(40, "caller"),
        l3.end(40.01, "caller"),
    ]
    call = only(assemble(events))
    assert [leg.role for leg in call.legs] == ["trunk", "phone", "phone", "phone"]
    assert call.first_ring_at == at(0.1)
    assert (call.answered_at, call.answered_by) == (at(5), "2002")
    assert call.ring_seconds == 4.9
    assert call.department == "민원"
    assert (call.hangup_by, call.end_reason) == ("caller", "bye")


def test_ring_group_unanswered_is_missed_with_the_first_ring() -> None:
    # as above, nobody answers; the caller hangs up at 14 s; the PBX cancels the phones
    l1 = L("L1", CUSTOMER, "2000")
    l2, l3 = L("L2", CUSTOMER, "2001"), L("L3", CUSTOMER, "2002")
    events = [
        l1.invite(0),
        l2.invite(0.02),
        l3.invite(0.03),
        l3.ring(0.1),
        l2.ring(0.3),
        l1.end(14, "caller", "cancel", answered=False),
        l2.end(14.01, "caller", "cancel", answered=False),
        l3.end(14.01, "caller", "cancel", answered=False),
    ]
    call = only(assemble(events))
    assert call.missed and call.first_ring_at == at(0.1)
    assert (call.end_reason, call.hangup_by) == ("cancel", "caller")


def test_phone_legs_from_the_ring_group_number_join_the_trunk() -> None:
    # 0     L1 INVITE 0613398731 → 2000 (ring group)
    # 0.02  L2 INVITE 2000 → 2001 (the PBX puts the ring-group number in From)
    # 0.1   L2 180;  2  L2 200;  2.01  L1 200;  30  L1 BYE caller;  30.01  L2 BYE PBX
    l1 = L("L1", CUSTOMER, "2000")
    l2 = L("L2", "2000", "2001")
    events = [
        l1.invite(0),
        l2.invite(0.02),
        l2.ring(0.1),
        l2.answer(2, "2001"),
        l1.answer(2.01),
        l1.end(30, "caller"),
        l2.end(30.01, "caller"),
    ]
    call = only(assemble(events))
    assert (call.direction, call.caller, call.correlation) == ("inbound", CUSTOMER, "heuristic")
    assert [leg.role for leg in call.legs] == ["trunk", "phone"]
    assert (call.answered_by, call.hangup_by) == ("2001", "caller")


def test_withheld_callers_dialling_two_extensions_are_not_joined() -> None:
    # two withheld-number customers call 2001 and 2002 40 ms apart: two calls, not one
    a = L("A", "anonymous", "2001")
    b = L("B", "anonymous", "2002")
    events = [a.invite(0), b.invite(0.04), a.end(5, "caller", "cancel"), b.end(6, "caller")]
    calls = assemble(events)
    assert [c.id for c in calls] == ["A-callid@pbx", "B-callid@pbx"]
    assert all(c.direction == "inbound" and c.missed for c in calls)


@pytest.mark.parametrize("withheld", ["anonymous", "Anonymous", "unavailable", "restricted", None])
def test_withheld_caller_joins_the_one_waiting_call_to_its_department(withheld: str | None) -> None:
    # 0     T INVITE <withheld> → 0613390000 (the department's number)
    # 0.01  P INVITE <withheld> → 2001 (the PBX's leg, no header)
    # 0.02  P 180;  2  P 200;  2.01  T 200;  5  T BYE caller;  5.01  P BYE PBX
    t = L("T", withheld, "0613390000")
    p = L("P", withheld, "2001")
    events = [
        t.invite(0),
        p.invite(0.01),
        p.ring(0.02),
        p.answer(2, "2001"),
        t.answer(2.01),
        t.end(5, "caller"),
        p.end(5.01, "caller"),
    ]
    call = only(assemble(events))
    assert (call.id, call.correlation, call.answered_by) == ("T-callid@pbx", "heuristic", "2001")
    assert [leg.role for leg in call.legs] == ["trunk", "phone"]
    assert (call.missed, call.hangup_by, call.ring_seconds) == (False, "caller", 1.98)


def test_withheld_caller_with_two_calls_waiting_stays_apart_and_says_why() -> None:
    # two withheld callers dial 0613390000 1 s apart; the PBX rings 2001 for one of them:
    # which is not known from SIP, so the phone leg stays its own call, saying why
    t1 = L("T1", "anonymous", "0613390000")
    t2 = L("T2", "unavailable", "0613390000")
    p = L("P", "anonymous", "2001")
    events = [
        t1.invite(0),
        t2.invite(1),
        p.invite(1.5),
        p.ring(1.51),
        p.answer(3, "2001"),
        t1.answer(3.01),
        t2.end(8, "caller", "cancel", answered=False),
        t1.end(9, "caller"),
        p.end(9.01, "caller"),
    ]
    assembler = CallAssembler(DIRECTORY)
    calls: list[Call] = []
    for event in events:
        calls += assembler.feed(event)
    calls += assembler.flush()
    by_id = {c.id: c for c in calls}
    assert sorted(by_id) == ["P-callid@pbx", "T1-callid@pbx", "T2-callid@pbx"]
    assert by_id["P-callid@pbx"].correlation == "ambiguous:withheld:2"
    assert assembler.withheld_ambiguous == 1


def test_withheld_caller_does_not_join_a_call_already_answered() -> None:
    # the only withheld call to the department was answered by 2002 already: 2001's leg is
    # another caller's (its trunk leg is not visible), not this call's
    t = L("T", "anonymous", "0613390000")
    p2 = L("P2", "anonymous", "2002")
    p1 = L("P1", "anonymous", "2001")
    events = [
        t.invite(0),
        p2.invite(0.01),
        p2.answer(1, "2002"),
        t.answer(1.01),
        p1.invite(2),
        p1.end(4, "caller", "cancel", answered=False),
        t.end(6, "caller"),
        p2.end(6.01, "caller"),
    ]
    calls = assemble(events)
    assert sorted(c.id for c in calls) == ["P1-callid@pbx", "T-callid@pbx"]


def test_outbound_call() -> None:
    # 0     L1 INVITE 2001 → 0101112222 (phone → PBX)
    # 0.03  L2 INVITE 0613390000 → 0101112222 (PBX → carrier, caller ID rewritten)
    # 1     L2 180;  1.01  L1 180;  6  L2 200;  6.01  L1 200
    # 30    L2 BYE from the called customer;  30.01  L1 BYE from the PBX
    l1 = L("L1", "2001", OTHER)
    l2 = L("L2", "0613390000", OTHER)
    events = [
        l1.invite(0),
        l2.invite(0.03),
        l2.ring(1),
        l1.ring(1.01),
        l2.answer(6),
        l1.answer(6.01),
        l2.end(30, "callee"),
        l1.end(30.01, "callee"),
    ]
    call = only(assemble(events))
    assert (call.direction, call.caller, call.dialled) == ("outbound", "2001", OTHER)
    assert call.customer == OTHER
    assert call.department == "민원"
    assert [leg.role for leg in call.legs] == ["phone", "trunk"]
    assert (call.answered_at, call.answered_by) == (at(6), OTHER)
    assert call.hangup_by == "caller"
    assert not call.missed


def test_outbound_agent_hangs_up_first() -> None:
    # the outbound call above, but 2001 hangs up first (BYE on L1 from the caller side)
    l1 = L("L1", "2001", OTHER)
    l2 = L("L2", "0613390000", OTHER)
    events = [
        l1.invite(0),
        l2.invite(0.03),
        l2.answer(6),
        l1.answer(6.01),
        l1.end(30, "caller"),
        l2.end(30.01, "caller"),
    ]
    assert only(assemble(events)).hangup_by == "agent"


def test_pbx_hangs_up_on_the_customer() -> None:
    # trunk + phone legs; the PBX ends the trunk (e.g. a max call duration) before anyone
    l1 = L("L1", CUSTOMER, "0613390000")
    l2 = L("L2", CUSTOMER, "2001")
    events = [
        l1.invite(0),
        l2.invite(0.05),
        l2.answer(2),
        l1.answer(2.01),
        l1.end(3600, "callee"),
        l2.end(3600.01, "caller"),
    ]
    assert only(assemble(events)).hangup_by == "system"


# -- transfers ----------------------------------------------------------------------------


def blind_transfer_events(target_answers: bool = True) -> list[LegEvent]:
    # 0     L1 INVITE 0613398731 → 0613390000 (trunk);  0.05  L2 INVITE → 2001 (phone)
    # 1     L2 180;  3  L2 200; 3.01  L1 200
    # 30    L2 REFER from 2001, Refer-To: sip:2005@pbx
    # 30.1  L3 INVITE 0613398731 → 2005 (PBX → transfer target)
    # 30.2  L3 180;  30.3  L2 BYE from 2001 (the transferor leaves)
    # 34    L3 200 (2005)  — or, when the target does not answer, 50  L3 480
    # 90    L1 BYE from the caller;  90.01  L3 BYE from the PBX
    l1 = L("L1", CUSTOMER, "0613390000")
    l2 = L("L2", CUSTOMER, "2001")
    l3 = L("L3", CUSTOMER, "2005")
    events = [
        l1.invite(0),
        l2.invite(0.05),
        l2.ring(1),
        l2.answer(3, "2001"),
        l1.answer(3.01),
        l2.refer(30, "callee", "<sip:2005@10.0.0.5>"),
        l3.invite(30.1),
        l3.ring(30.2),
        l2.end(30.3, "callee"),
    ]
    if target_answers:
        events += [l3.answer(34, "2005"), l1.end(90, "caller"), l3.end(90.01, "caller")]
    else:
        events += [l3.end(50, "callee", "480", answered=False), l1.end(50.01, "callee")]
    return events


def test_blind_transfer_via_refer_and_a_new_leg() -> None:
    call = only(assemble(blind_transfer_events()))
    assert [(leg.leg, leg.role) for leg in call.legs] == [
        ("L1", "trunk"),
        ("L2", "phone"),
        ("L3", "transfer"),
    ]
    (transfer,) = call.transfers
    assert (transfer.kind, transfer.from_ext, transfer.to_ext) == ("blind", "2001", "2005")
    assert (transfer.started_at, transfer.connected_at) == (at(30), at(34))
    assert transfer.seconds == 4.0
    assert transfer.legs == ("L3",)
    # the transferor's BYE at 30.3 is not the end of the customer's call
    assert call.hangup_by == "caller"
    assert (call.answered_by, call.ring_seconds) == ("2001", 2.0)
    assert call.ended_at == at(90.01)


def test_blind_transfer_that_never_connects() -> None:
    call = only(assemble(blind_transfer_events(target_answers=False)))
    (transfer,) = call.transfers
    assert transfer.connected_at is None and transfer.seconds is None
    assert call.hangup_by == "system"  # the PBX ended the trunk after the failed transfer


def test_blind_transfer_seen_only_through_notify() -> None:
    # direct leg L1 0613398731 → 2001 answered; 20 REFER from 2001 to 2004;
    # 20.5 NOTIFY sipfrag 100; 26 NOTIFY sipfrag 200 (the new leg is not on this wire)
    # 26.1 L1 BYE from 2001
    l1 = L("L1", CUSTOMER, "2001")
    events = [
        l1.invite(0),
        l1.ring(0.1),
        l1.answer(2),
        l1.refer(20, "callee", "sip:2004@pbx"),
        l1.notify(20.5, 100),
        l1.notify(26, 200),
        l1.end(26.1, "callee"),
    ]
    call = only(assemble(events))
    (transfer,) = call.transfers
    assert (transfer.to_ext, transfer.started_at, transfer.connected_at) == (
        "2004",
        at(20),
        at(26),
    )
    assert transfer.legs == ()
    # the only BYE is the transferor's: nothing tells who ended the conversation after it
    assert (call.hangup_by, call.end_reason) == (None, "bye")


def test_transfer_leg_joins_after_the_transferor_left_within_linger() -> None:
    # proxy world, one leg per hop: L1 0613398731 → 2001 answered; 10 REFER to 2002;
    # 10.2 L1 BYE from 2001 (every leg of the call has ended now);
    # 12  L2 INVITE 0613398731 → 2002 with Referred-By (the customer's phone follows the REFER)
    # 13  L2 200;  40  L2 BYE from the customer
    l1 = L("L1", CUSTOMER, "2001")
    l2 = L("L2", CUSTOMER, "2002")
    events = [
        l1.invite(0),
        l1.answer(1),
        l1.refer(10, "callee", "sip:2002@pbx"),
        l1.end(10.2, "callee"),
        l2.invite(12, headers=(("referred-by", "<sip:2001@pbx>"),)),
        l2.answer(13, "2002"),
        l2.end(40, "caller"),
    ]
    call = only(assemble(events))
    assert call.correlation == "transfer"
    (transfer,) = call.transfers
    assert (transfer.from_ext, transfer.to_ext, transfer.seconds) == ("2001", "2002", 3.0)
    assert call.hangup_by == "caller"
    assert call.end_reason == "bye"


def test_attended_transfer_with_hold_consultation_and_replaces() -> None:
    # phones behind a proxy (one leg per call):
    # 0     L1 INVITE 0613398731 → 2001;  0.1  180;  2  200
    # 20    L1 re-INVITE sendonly from 2001 (hold)
    # 21    L2 INVITE 2001 → 2002 (consultation);  21.1  180;  24  200 (2002)
    # 40    L1 REFER from 2001, Refer-To: <sip:2002@pbx?Replaces=L2-callid...>
    # 40.1  L3 INVITE 0613398731 → 2002, Replaces: L2-callid;to-tag=b;from-tag=a
    # 40.2  L3 200;  40.3  L2 BYE from 2002;  40.4  L1 BYE from 2001
    # 100   L3 BYE from the customer
    l1 = L("L1", CUSTOMER, "2001")
    l2 = L("L2", "2001", "2002")
    l3 = L("L3", CUSTOMER, "2002")
    events = [
        l1.invite(0),
        l1.ring(0.1),
        l1.answer(2, "2001"),
        l1.hold(20, "callee"),
        l2.invite(21),
        l2.ring(21.1),
        l2.answer(24, "2002"),
        l1.refer(40, "callee", f"<sip:2002@pbx?Replaces={l2.call_id}>", replaces=l2.call_id),
        l3.invite(40.1, headers=(("replaces", f"{l2.call_id};to-tag=b;from-tag=a"),)),
        l3.answer(40.2, "2002"),
        l2.end(40.3, "callee"),
        l1.end(40.4, "callee"),
        l3.end(100, "caller"),
    ]
    call = only(assemble(events))
    assert [(leg.leg, leg.role) for leg in call.legs] == [
        ("L1", "direct"),
        ("L2", "consultation"),
        ("L3", "transfer"),
    ]
    (transfer,) = call.transfers
    assert (transfer.kind, transfer.from_ext, transfer.to_ext) == ("attended", "2001", "2002")
    assert (transfer.started_at, transfer.connected_at) == (at(20), at(24))
    assert transfer.completed_at == at(40.2)
    assert transfer.seconds == 4.0
    assert set(transfer.legs) == {"L2", "L3"}
    # the consultation's ring and answer are not the customer's
    assert (call.first_ring_at, call.answered_at, call.answered_by) == (at(0.1), at(2), "2001")
    assert call.hangup_by == "caller"
    assert call.correlation == "transfer"


def test_attended_transfer_merges_a_consultation_seen_without_a_hold() -> None:
    # as above, but the phone never sent a hold re-INVITE: the consultation L2 starts as a
    # call of its own and is merged into the customer's call when the REFER names it.
    l1 = L("L1", CUSTOMER, "2001")
    l2 = L("L2", "2001", "2002")
    events = [
        l1.invite(0),
        l1.answer(2, "2001"),
        l2.invite(21),
        l2.answer(27, "2002"),
        l1.refer(40, "callee", "sip:2002@pbx", replaces=l2.call_id),
        l2.end(40.3, "caller"),
        l1.end(40.4, "callee"),
    ]
    call = only(assemble(events))
    (transfer,) = call.transfers
    assert transfer.kind == "attended"
    assert (transfer.started_at, transfer.connected_at) == (at(21), at(27))  # no hold seen


def test_attended_transfer_bridged_by_the_pbx() -> None:
    # Asterisk handles the REFER itself, so no INVITE with Replaces reaches the wire:
    # 0     L1 INVITE 0613398731 → 0613390000 (trunk);  0.05  L2 → 2001;  2  L2 200; L1 200
    # 20    L2 hold from 2001
    # 22    K1 INVITE 2001 → 2002 (phone → PBX);  22.02  K2 INVITE 2001 → 2002 (PBX → phone)
    # 29    K2 200 (2002);  29.01  K1 200
    # 35    L2 REFER from 2001, Refer-To: <sip:2002@pbx?Replaces=K1-callid>
    # 35.1  L2 BYE from the PBX;  35.2  K1 BYE from the PBX  (K2 now carries the customer)
    # 80    K2 BYE from 2002;  80.01  L1 BYE from the PBX
    l1 = L("L1", CUSTOMER, "0613390000")
    l2 = L("L2", CUSTOMER, "2001")
    k1 = L("K1", "2001", "2002")
    k2 = L("K2", "2001", "2002")
    events = [
        l1.invite(0),
        l2.invite(0.05),
        l2.answer(2, "2001"),
        l1.answer(2.01),
        l2.hold(20, "callee"),
        k1.invite(22),
        k2.invite(22.02),
        k2.answer(29, "2002"),
        k1.answer(29.01),
        l2.refer(35, "callee", "sip:2002@pbx", replaces=k1.call_id),
        l2.end(35.1, "caller"),
        k1.end(35.2, "callee"),
        k2.end(80, "callee"),
        l1.end(80.01, "callee"),
    ]
    call = only(assemble(events))
    roles = {leg.leg: leg.role for leg in call.legs}
    assert roles == {"L1": "trunk", "L2": "phone", "K1": "consultation", "K2": "transfer"}
    (transfer,) = call.transfers
    assert (transfer.kind, transfer.from_ext, transfer.to_ext) == ("attended", "2001", "2002")
    assert (transfer.started_at, transfer.connected_at, transfer.completed_at) == (
        at(20),
        at(29),
        at(35),
    )
    assert transfer.seconds == 9.0
    assert call.hangup_by == "agent"  # 2002 hung up on the customer


def local_attended_events(transfer: bool) -> list[LegEvent]:
    # Asterisk, two legs per call:
    # 0     L1 INVITE 0613398731 → 0613390000 (trunk);  0.05  L2 → 2001;  2  L2 200; L1 200
    # 20    L2 re-INVITE sendonly from 2001 (hold)
    # 22    K1 INVITE 2001 → 2002 (phone → PBX);  22.02  K2 INVITE 2001 → 2002 (PBX → phone)
    # 22.1  K2 180;  25  K2 200 (2002);  25.01  K1 200
    # transfer:   40  L2 BYE from 2001;  40.05  K1 BYE from 2001; K2 stays up, bridged to L1;
    #             100  L1 BYE from the caller;  100.01  K2 BYE from the PBX
    # no transfer: 40  K1 BYE from 2001;  40.01  K2 BYE from the PBX;  41  L2 resumed;
    #             60  L1 BYE from the caller;  60.01  L2 BYE from the PBX
    l1 = L("L1", CUSTOMER, "0613390000")
    l2 = L("L2", CUSTOMER, "2001")
    k1 = L("K1", "2001", "2002")
    k2 = L("K2", "2001", "2002")
    events = [
        l1.invite(0),
        l2.invite(0.05),
        l2.ring(0.1),
        l2.answer(2, "2001"),
        l1.answer(2.01),
        l2.hold(20, "callee"),
        k1.invite(22),
        k2.invite(22.02),
        k2.ring(22.1),
        k2.answer(25, "2002"),
        k1.answer(25.01),
    ]
    if transfer:
        events += [
            l2.end(40, "callee"),
            k1.end(40.05, "caller"),
            l1.end(100, "caller"),
            k2.end(100.01, "caller"),
        ]
    else:
        events += [
            k1.end(40, "caller"),
            k2.end(40.01, "caller"),
            l2.resume(41, "callee"),
            l1.end(60, "caller"),
            l2.end(60.01, "caller"),
        ]
    return events


def test_local_attended_transfer() -> None:
    call = only(assemble(local_attended_events(transfer=True)))
    roles = {leg.leg: leg.role for leg in call.legs}
    assert roles == {"L1": "trunk", "L2": "phone", "K1": "consultation", "K2": "transfer"}
    (transfer,) = call.transfers
    assert (transfer.kind, transfer.from_ext, transfer.to_ext) == (
        "local_attended",
        "2001",
        "2002",
    )
    assert (transfer.started_at, transfer.connected_at, transfer.completed_at) == (
        at(20),
        at(25),
        at(40),
    )
    assert transfer.seconds == 5.0
    assert call.hangup_by == "caller"
    assert (call.answered_by, call.first_ring_at) == ("2001", at(0.1))


def test_local_attended_transfer_then_the_target_hangs_up() -> None:
    events = local_attended_events(transfer=True)
    events[-2:] = [
        L("K2", "2001", "2002").end(100, "callee"),
        L("L1", CUSTOMER, "0613390000").end(100.01, "callee"),
    ]
    assert only(assemble(events)).hangup_by == "agent"


def test_consultation_without_transfer_is_not_a_transfer() -> None:
    call = only(assemble(local_attended_events(transfer=False)))
    assert call.transfers == []
    roles = {leg.leg: leg.role for leg in call.legs}
    assert roles == {"L1": "trunk", "L2": "phone", "K1": "consultation", "K2": "consultation"}
    assert call.hangup_by == "caller"  # 2001 ending the consultation is not a hang-up


# -- end of input, clock and ordering ----------------------------------------------------


def _feature_blind(gap: float) -> list[LegEvent]:
    # 0  T INVITE customer → 0613390000;  0.01 A INVITE → 2001 (linkedid);  2 A 200, T 200
    # 5  the PBX BYEs A (blindxfer keyed);  5+gap  B INVITE → 2002 (linkedid), 7.5 B 200
    # 12 T BYE caller;  12.01 B BYE PBX
    t = L("T", CUSTOMER, "0613390000")
    a = L("A", CUSTOMER, "2001")
    b = L("B", CUSTOMER, "2002")
    lid = (("x-asterisk-linkedid", "1796521308.0"),)
    return [
        t.invite(0),
        a.invite(0.01, headers=lid),
        a.ring(0.02),
        a.answer(2, "2001"),
        t.answer(2.01),
        a.end(5, "caller"),
        b.invite(5 + gap, headers=lid),
        b.ring(5.01 + gap),
        b.answer(7.5, "2002"),
        t.end(12, "caller"),
        b.end(12.01, "caller"),
    ]


def test_feature_code_blind_transfer_is_timed_from_the_pbx_bye() -> None:
    call = only(assemble(_feature_blind(0.02), correlation_headers=["X-Asterisk-Linkedid"]))
    [xfer] = call.transfers
    assert (xfer.kind, xfer.style, xfer.from_ext, xfer.to_ext) == (
        "blind",
        "feature_code",
        "2001",
        "2002",
    )
    assert xfer.seconds == 2.5
    assert [leg.role for leg in call.legs] == ["trunk", "phone", "transfer"]
    assert (call.hangup_by, call.answered_by, call.ring_seconds) == ("caller", "2001", 1.98)


def test_a_leg_long_after_the_pbx_bye_is_no_feature_code_transfer() -> None:
    # the PBX hung 2001 up and rang 2002 3 s later: not a transfer keyed by 2001
    call = only(assemble(_feature_blind(3.0), correlation_headers=["X-Asterisk-Linkedid"]))
    assert call.transfers == []


def test_a_proxy_has_no_feature_code_transfers() -> None:
    options = {"correlation_headers": ["X-Asterisk-Linkedid"], "pbx": PROXY}
    call = only(assemble(_feature_blind(0.02), **options))
    assert call.transfers == []


def test_feature_code_attended_transfer_is_no_agent_hang_up() -> None:
    # 2001 answers at 2, keys *2 2002; the PBX INVITEs 2002 at 5 (From 2001, linkedid) while
    # 2001 is up; 2002 answers at 7; 2001 hangs up at 8 (bridging the caller to 2002); the
    # caller hangs up at 16
    t = L("T", CUSTOMER, "0613390000")
    a = L("A", CUSTOMER, "2001")
    b = L("B", "2001", "2002")
    lid = (("x-asterisk-linkedid", "1796522606.0"),)
    events = [
        t.invite(0),
        a.invite(0.01, headers=lid),
        a.ring(0.02),
        a.answer(2, "2001"),
        t.answer(2.01),
        b.invite(5, headers=lid),
        b.ring(5.01),
        b.answer(7, "2002"),
        a.end(8, "callee"),
        t.end(16, "caller"),
        b.end(16.01, "caller"),
    ]
    call = only(assemble(events, correlation_headers=["X-Asterisk-Linkedid"]))
    [xfer] = call.transfers
    assert (xfer.kind, xfer.style, xfer.seconds, xfer.completed_at) == (
        "attended",
        "feature_code",
        2.0,
        at(8),
    )
    assert (call.hangup_by, call.answered_by) == ("caller", "2001")


def test_call_still_up_at_end_of_input_is_incomplete() -> None:
    # 0  L1 INVITE → 2001;  1  200;  (capture ends)
    l1 = L("L1", CUSTOMER, "2001")
    call = only(assemble([l1.invite(0), l1.answer(1)]))
    assert not call.complete
    assert call.ended_at is None and call.hangup_by is None and call.end_reason is None
    assert not call.missed
    assert call.answered_at == at(1)


def test_ringing_call_at_end_of_input_is_not_missed() -> None:
    l1 = L("L1", CUSTOMER, "2001")
    call = only(assemble([l1.invite(0), l1.ring(0.1)]))
    assert not call.complete and not call.missed


def test_leg_seen_without_its_invite_is_incomplete() -> None:
    # the capture starts mid-call: the first thing seen of L1 is its BYE
    l1 = L("L1", CUSTOMER, "2001")
    call = only(assemble([l1.end(5, "caller")]))
    assert not call.complete and call.ended_at == at(5)


def test_calls_come_out_after_the_linger_window() -> None:
    # 0 L1 INVITE; 1 200; 30 BYE; the call is handed out once 10 s of capture time passed
    l1 = L("L1", CUSTOMER, "2001")
    assembler = CallAssembler(DIRECTORY)
    assert assembler.feed(l1.invite(0)) == []
    assert assembler.feed(l1.answer(1)) == []
    assert assembler.feed(l1.end(30, "caller")) == []
    assert assembler.tick(at(39.9)) == []
    assert assembler.open_calls == 1
    (call,) = assembler.tick(at(40))
    assert call.complete and call.id == "L1-callid@pbx"
    assert assembler.open_calls == 0
    assert assembler.flush() == []


def test_a_later_event_hands_out_finished_calls() -> None:
    # call A ends at 5; an event of call B at 16 is what moves the clock past A's linger
    a = L("A", CUSTOMER, "2001")
    b = L("B", OTHER, "2002")
    assembler = CallAssembler(DIRECTORY)
    for event in (a.invite(0), a.end(5, "caller", "cancel", answered=False)):
        assert assembler.feed(event) == []
    assert [c.id for c in assembler.feed(b.invite(16))] == ["A-callid@pbx"]
    assert [c.id for c in assembler.flush()] == ["B-callid@pbx"]


def test_stale_call_is_closed_as_cut_short() -> None:
    l1 = L("L1", CUSTOMER, "2001")
    assembler = CallAssembler(DIRECTORY, stale_s=3600)
    assembler.feed(l1.invite(0))
    assembler.feed(l1.answer(1))
    assert assembler.tick(at(3000)) == []
    (call,) = assembler.tick(at(3700))
    assert not call.complete and call.ended_at is None


def test_late_events_of_a_handed_out_call_are_dropped() -> None:
    l1 = L("L1", CUSTOMER, "2001")
    assembler = CallAssembler(DIRECTORY)
    for event in (l1.invite(0), l1.answer(1), l1.end(5, "caller")):
        assembler.feed(event)
    assert len(assembler.tick(at(20))) == 1
    assert assembler.feed(l1.end(21, "callee")) == []
    assert assembler.late_events == 1
    assert assembler.flush() == []


def test_feeding_something_else_is_an_error() -> None:
    # AssemblerError from the interpreted core; a mypyc-compiled one checks at the call
    with pytest.raises(TypeError, match=r"expected a leg event|LegEvent object expected"):
        CallAssembler(DIRECTORY).feed("INVITE")  # type: ignore[arg-type]


def two_interleaved_calls() -> list[LegEvent]:
    # caller A (0613398731) → 0613390000 → phone 2001; caller B (0101112222) → 0613391000 →
    # phone 3001, both within the same 100 ms, events interleaved:
    # 0     A1 INVITE;  0.01  B1 INVITE;  0.03  B2 INVITE → 3001;  0.04  A2 INVITE → 2001
    # 0.1   A2 180; B2 180;  3  B2 200;  4  A2 200;  20  B1 BYE caller;  20.01 B2 BYE PBX
    # 25    A2 BYE 2001;  25.01  A1 BYE PBX
    a1, a2 = L("A1", CUSTOMER, "0613390000"), L("A2", CUSTOMER, "2001")
    b1, b2 = L("B1", OTHER, "0613391000"), L("B2", OTHER, "3001")
    return [
        a1.invite(0),
        b1.invite(0.01),
        b2.invite(0.03),
        a2.invite(0.04),
        a2.ring(0.1),
        b2.ring(0.1),
        b2.answer(3, "3001"),
        b1.answer(3.01),
        a2.answer(4, "2001"),
        a1.answer(4.01),
        b1.end(20, "caller"),
        b2.end(20.01, "caller"),
        a2.end(25, "callee"),
        a1.end(25.01, "callee"),
    ]


def test_two_concurrent_calls_from_different_callers() -> None:
    calls = assemble(two_interleaved_calls())
    assert [c.id for c in calls] == ["A1-callid@pbx", "B1-callid@pbx"]
    a, b = calls
    assert [leg.leg for leg in a.legs] == ["A1", "A2"]
    assert [leg.leg for leg in b.legs] == ["B1", "B2"]
    assert (a.department, a.answered_by, a.ring_seconds, a.hangup_by) == (
        "민원",
        "2001",
        3.9,
        "agent",
    )
    assert (b.department, b.answered_by, b.ring_seconds, b.hangup_by) == (
        "세무",
        "3001",
        2.9,
        "caller",
    )


def shifted(events: list[LegEvent], seconds: float, prefix: str) -> list[LegEvent]:
    """The same flow later, on fresh legs (leg ids are unique per dialog in real traffic)."""
    return [
        dataclasses.replace(
            e, at=e.at + round(seconds * S), leg=prefix + e.leg, call_id=prefix + e.call_id
        )
        for e in events
    ]


def test_same_input_gives_the_same_output() -> None:
    # three scenarios one after another (200 s apart), fed twice to fresh assemblers
    events = (
        two_interleaved_calls()
        + shifted(blind_transfer_events(), 200, "x")
        + shifted(local_attended_events(transfer=True), 400, "y")
    )
    events.sort(key=lambda e: e.at)
    first = assemble(events)
    second = assemble(list(events))
    assert first == second
    assert [dataclasses.asdict(c) for c in first] == [dataclasses.asdict(c) for c in second]
    assert [c.started_at for c in first] == [at(0), at(0.01), at(200), at(400)]
    assert [len(c.transfers) for c in first] == [0, 0, 1, 1]


# -- any input: no crash, nothing lost ------------------------------------------------------

USERS = ("0613398731", "0101112222", "0613390000", "2000", "2001", "2002", "3001", "anonymous")
LEG_NAMES = ("L1", "L2", "L3", "L4", "L5")


@st.composite
def event_soup(draw: st.DrawFn) -> list[LegEvent]:
    legs = {
        name: L(
            name,
            draw(st.sampled_from(USERS)),
            draw(st.sampled_from(USERS)),
            call_id=draw(st.sampled_from(("a@x", "b@x", f"{name}@x"))),
        )
        for name in LEG_NAMES
    }
    sides = st.sampled_from(("caller", "callee"))
    events: list[LegEvent] = []
    for _ in range(draw(st.integers(1, 30))):
        leg = legs[draw(st.sampled_from(LEG_NAMES))]
        t = draw(st.floats(0, 120, allow_nan=False))
        kind = draw(st.integers(0, 8))
        if kind == 0:
            headers = draw(
                st.sampled_from(((), (("x-cid", "1"),), (("replaces", "a@x;to-tag=1"),)))
            )
            events.append(leg.invite(t, headers=headers))
        elif kind == 1:
            events.append(leg.ring(t, draw(st.sampled_from(USERS))))
        elif kind == 2:
            events.append(leg.answer(t, draw(st.sampled_from(USERS))))
        elif kind == 3:
            events.append(leg.hold(t, draw(sides)))
        elif kind == 4:
            events.append(leg.resume(t, draw(sides)))
        elif kind == 5:
            replaces = draw(st.sampled_from((None, "a@x", "b@x")))
            target = draw(st.sampled_from(USERS))
            events.append(leg.refer(t, draw(sides), f"sip:{target}@pbx", replaces))
        elif kind == 6:
            events.append(leg.notify(t, draw(st.sampled_from((100, 200, 503)))))
        else:
            reason = draw(st.sampled_from(("bye", "cancel", "486", "timeout")))
            events.append(leg.end(t, draw(st.sampled_from(("caller", "callee", None))), reason))
    if draw(st.booleans()):
        events.sort(key=lambda e: e.at)
    return events


@settings(max_examples=300, deadline=None)
@given(event_soup())
def test_any_event_sequence_is_assembled_without_loss(events: list[LegEvent]) -> None:
    assembler = CallAssembler(DIRECTORY, ["X-CID"], linger_s=3)
    calls: list[Call] = []
    for event in events:
        calls += assembler.feed(event)
    calls += assembler.flush()
    placed = [leg.leg for call in calls for leg in call.legs]
    assert len(placed) == len(set(placed))  # each leg in exactly one call
    assert set(placed) == {e.leg for e in events}
    kept = sum(len(leg.events) for call in calls for leg in call.legs)
    assert kept + assembler.late_events == len(events)
    again = CallAssembler(DIRECTORY, ["X-CID"], linger_s=3)
    replay = [c for e in events for c in again.feed(e)] + again.flush()
    assert replay == calls
