"""The B2BUA rule's index gives exactly what the scan it replaced gave.

The rule (rule 5 of :mod:`callwatch.calls.assembler`) used to scan every open leg of a caller
or dialled number for each new leg; a scanner's flood of unanswered INVITEs to one number
made that cost grow with the flood. ``ScanAssembler`` below is the assembler with the rule
as it was written before (the scan, over the same legs), and generated leg sets go through
both: every call, leg and join must come out the same.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from callwatch.calls._records import LegRecord, callee_users
from callwatch.calls.assembler import CallAssembler, _Joined, is_withheld
from callwatch.calls.directory import normalize_number
from callwatch.calls.model import Call
from callwatch.sip.events import LegEvent, Offered
from test_calls_assembler import DIRECTORY, L, event_soup


class ScanAssembler(CallAssembler):
    """The assembler with rule 5 as a scan over every open leg of the number (the old way)."""

    def _reset(self) -> None:
        super()._reset()
        self.scan_by_caller: dict[str, dict[int, LegRecord]] = {}
        self.scan_by_dialled: dict[str, dict[int, LegRecord]] = {}

    def _index(self, rec: LegRecord, keys: list[tuple[str, str]], offered: Offered | None) -> None:
        super()._index(rec, keys, offered)
        leg = rec.leg
        caller = normalize_number(leg.from_user)
        if caller:
            self.scan_by_caller.setdefault(caller, {})[id(rec)] = rec
        dialled = normalize_number(offered.dialled or leg.to_user) if offered else None
        if dialled:
            self.scan_by_dialled.setdefault(dialled, {})[id(rec)] = rec

    def _unindex_parties(self, rec: LegRecord) -> None:
        super()._unindex_parties(rec)
        leg = rec.leg
        for index, key in (
            (self.scan_by_caller, normalize_number(leg.from_user)),
            (self.scan_by_dialled, normalize_number(leg.dialled or leg.to_user)),
        ):
            legs = index.get(key) if key else None
            if legs is not None:
                legs.pop(id(rec), None)
                if not legs:
                    del index[key]  # type: ignore[arg-type]

    def _by_heuristic(self, event: LegEvent) -> _Joined | None:
        directory = self._directory
        caller = normalize_number(event.from_user)
        callee = normalize_number(event.to_user)
        dialled = normalize_number(event.dialled) if isinstance(event, Offered) else None
        if is_withheld(caller):  # a rule written on the index (no scan before it to compare)
            return super()._by_heuristic(event)
        if caller is None or not caller.lstrip("+").isdigit():
            return None
        if directory.is_staff(callee) or directory.is_staff(dialled):
            candidates = list(self.scan_by_caller.get(caller, {}).values())
            if directory.department_of_number(caller) is not None:
                candidates += self.scan_by_dialled.get(caller, {}).values()
            near = [
                r for r in candidates if self._scan_within(r, event) and r.leg.answered_at is None
            ]
            if near:
                anchor = max(near, key=lambda r: r.leg.offered_at)
                return anchor.call, anchor.segment, "heuristic"
            ivr = {
                r.call.seq: r
                for r in self.scan_by_caller.get(caller, {}).values()
                if r.leg.ended_at is None
                and r.leg.answered_at is not None
                and not any(directory.is_staff(u) for u in callee_users(r.leg))
            }
            if len(ivr) == 1:
                anchor = next(iter(ivr.values()))
                return anchor.call, anchor.segment, "heuristic"
            return None
        target = dialled or callee
        if target is not None and target.lstrip("+").isdigit() and not directory.is_ours(target):
            near = [
                r
                for r in self.scan_by_dialled.get(target, {}).values()
                if directory.is_ours(r.leg.from_user) and self._scan_within(r, event)
            ]
            if near:
                anchor = max(near, key=lambda r: r.leg.offered_at)
                return anchor.call, anchor.segment, "heuristic"
        return None

    def _scan_within(self, rec: LegRecord, event: LegEvent) -> bool:
        leg = rec.leg
        return (
            leg.ended_at is None
            and leg.call_id != event.call_id
            and 0 <= event.at - leg.offered_at <= self._b2bua_us
        )


def both(events: list[LegEvent], **options: object) -> tuple[list[Call], list[Call]]:
    """The calls of ``events`` through the indexed and the scanning assembler."""
    out = []
    for kind in (CallAssembler, ScanAssembler):
        assembler = kind(DIRECTORY, ["X-CID"], **options)  # type: ignore[arg-type]
        calls = [c for e in events for c in assembler.feed(e)]
        out.append(calls + assembler.flush())
    return out[0], out[1]


# Numbers that make rule 5 fire: customers, staff, department numbers, outside numbers.
NUMBERS = (
    "0613398731",
    "0101112222",
    "+82613398731",
    "0613390000",
    "2000",
    "2001",
    "2002",
    "3001",
    "0215550000",
    "0215550001",
    "anonymous",
)


@st.composite
def crowded_legs(draw: st.DrawFn) -> list[LegEvent]:
    """Many legs on a few numbers, offered on a coarse grid of times (ties and window edges),
    some answered (by staff or by the PBX), some ended, some first seen after their INVITE,
    some seeing a late INVITE older than their first event."""
    events: list[LegEvent] = []
    for n in range(draw(st.integers(1, 40))):
        leg = L(
            f"L{n}",
            draw(st.sampled_from(NUMBERS)),
            draw(st.sampled_from(NUMBERS)),
            call_id=draw(st.sampled_from(("shared@x", f"c{n}@x"))),
        )
        t = draw(st.integers(0, 40)) * 0.5
        dialled = draw(st.sampled_from((None, *NUMBERS)))
        if draw(st.integers(0, 9)):
            events.append(leg.invite(t, dialled=dialled))
        if draw(st.booleans()):
            events.append(leg.ring(t + 0.5, draw(st.sampled_from((None, *NUMBERS)))))
        if draw(st.booleans()):
            t_answer = t + draw(st.integers(0, 8)) * 0.5
            events.append(leg.answer(t_answer, draw(st.sampled_from((None, *NUMBERS)))))
        if not draw(st.integers(0, 9)):
            events.append(leg.invite(t - 1, dialled=dialled))  # late, older INVITE
        if draw(st.booleans()):
            t_end = t + draw(st.integers(0, 20)) * 0.5
            events.append(leg.end(t_end, draw(st.sampled_from(("caller", "callee", None)))))
    if draw(st.integers(0, 4)):
        events.sort(key=lambda e: e.at)
    return events


@settings(max_examples=400, deadline=None)
@given(crowded_legs())
def test_index_joins_exactly_as_the_scan(events: list[LegEvent]) -> None:
    indexed, scanned = both(events)
    assert indexed == scanned


@settings(max_examples=200, deadline=None)
@given(event_soup())
def test_index_joins_exactly_as_the_scan_on_any_event_soup(events: list[LegEvent]) -> None:
    indexed, scanned = both(events, linger_s=3)
    assert indexed == scanned


def test_a_flood_to_one_number_still_joins_the_real_legs_among_it() -> None:
    # 3,000 unanswered INVITEs from outside numbers to one outside number, 2 ms apart; in the
    # middle, staff phone 2001 calls another outside number and the PBX's trunk leg to it
    # follows 0.2 s later
    events: list[LegEvent] = []
    for i in range(3000):
        leg = L(f"S{i}", f"07{i:08d}", "0215559999")
        events.append(leg.invite(i * 0.002))
        if i == 1500:
            events.append(L("P", "2001", "0215550000").invite(i * 0.002))
        if i == 1600:
            events.append(L("T", "0613390000", "0215550000").invite(i * 0.002))
    indexed, scanned = both(events)
    assert indexed == scanned
    [joined] = [c for c in indexed if len(c.legs) == 2]
    assert [leg.leg for leg in joined.legs] == ["P", "T"]
    assert len(indexed) == 3001
