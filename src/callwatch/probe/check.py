"""The chain checks itself: does what callwatch captured agree with what the probe heard?

A probe call is found among the captured calls by its own Call-ID: the probe's INVITE is a
leg of the customer call callwatch assembled (the caller's leg into the PBX), and that
call's caller must be the probe's number. Its leg is then compared with the probe's record,
interval by interval, so the two clocks never need to agree to the millisecond:

- ``ring``: ringback heard (first 180/183 → answer) against the leg's alerting → answer;
- ``answer``: INVITE → answer on both sides; an answer one side saw and the other did not;
- ``ended``: INVITE → end of the dialog;
- ``clock``: the INVITE's capture time against the probe's clock, within :data:`CLOCK_TOLERANCE_S`
  (a PBX or capture host whose clock is off);
- ``caller`` / ``dialled``: the call's caller and dialled number are the probe's.

Durations agree within :data:`RING_TOLERANCE_S`: HEP stamps received messages to the
millisecond, pyVoIP reads its socket every 10 ms, and 0.25 s is a quarter of one burst of
Korean ringback (1 s on, 2 s off). A probe whose call never appears (:class:`ProbeMonitor`
waits :data:`MISSING_AFTER_S` after the probe hung up) is ``missing``: the HEP feed or the
capture is down, or the legs were never joined into a call. Pure functions and plain state:
no clock, no I/O.

What differs is data, not prose (:class:`Problem`: a code and the two sides' values), so the
pages word it in the viewer's language; :meth:`Problem.text` words it in English for logs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from callwatch.calls.model import Call, Leg
from callwatch.probe.tagging import is_probe_call_id
from callwatch.probe.uac import ProbeRecord

RING_TOLERANCE_S = 0.25
CLOCK_TOLERANCE_S = 2.0
MISSING_AFTER_S = 60.0
Outcome = Literal["ok", "mismatch", "missing"]
_US = 1_000_000


ProblemCode = Literal["caller", "dialled", "clock", "answer", "ring", "ended"]
PROBLEM_CODES: tuple[str, ...] = ("caller", "dialled", "clock", "answer", "ring", "ended")


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing the capture and the probe disagree on.

    ``caller`` / ``dialled``: the numbers (``captured``, ``probe``; text). ``clock``: how far
    the INVITE's capture time is from the probe's clock (``captured``, seconds, signed; no
    ``probe``). ``answer`` / ``ring`` / ``ended``: the interval on each side in seconds, None
    where that side did not see it (an answer or an end one side saw and the other did not);
    otherwise the two differ by more than :data:`RING_TOLERANCE_S`.
    """

    code: ProblemCode
    captured: str | float | None = None
    probe: str | float | None = None

    def to_dict(self) -> dict[str, object]:
        """The stored and published form (``probe_results.problems``, the bus payload)."""
        return {"code": self.code, "captured": self.captured, "probe": self.probe}

    @classmethod
    def from_stored(cls, value: Any) -> Problem | str:
        """A stored problem: a :class:`Problem` from its dict; the English sentence older rows
        hold, or anything not understood, as text."""
        if isinstance(value, dict) and value.get("code") in PROBLEM_CODES:
            return cls(value["code"], value.get("captured"), value.get("probe"))
        return str(value)

    def text(self) -> str:
        """The problem in English, for logs."""
        if self.code in ("caller", "dialled"):
            return f"{self.code}: captured {self.captured!r}, probe {self.probe!r}"
        if self.code == "clock":
            offset = _float(self.captured)
            return f"clock: the INVITE's capture time is {offset:+.3f} s from the probe's"
        if self.captured is None or self.probe is None:
            return f"{self.code}: captured {_show(self.captured)}, probe {_show(self.probe)}"
        return (
            f"{self.code}: captured {_show(self.captured)}, probe {_show(self.probe)} "
            f"(more than {RING_TOLERANCE_S} s apart)"
        )

    def __str__(self) -> str:
        return self.text()


@dataclass(frozen=True, slots=True)
class ProbeCheck:
    """The verdict on one probe call: ``ok``, ``mismatch`` (``problems`` says what differs) or
    ``missing``; ``seen_*`` are what callwatch measured on the probe's leg (seconds)."""

    call_id: str
    number: str
    outcome: Outcome
    problems: tuple[Problem, ...] = ()
    call: str | None = None
    department: str | None = None
    probe_ring_s: float | None = None
    seen_ring_s: float | None = None
    probe_answer_s: float | None = None
    seen_answer_s: float | None = None
    staff_ring_s: float | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "call_id": self.call_id, "number": self.number, "outcome": self.outcome,
            "problems": [p.to_dict() for p in self.problems], "call": self.call,
            "department": self.department,
            "probe_ring_s": self.probe_ring_s, "seen_ring_s": self.seen_ring_s,
            "probe_answer_s": self.probe_answer_s, "seen_answer_s": self.seen_answer_s,
            "staff_ring_s": self.staff_ring_s,
        }  # fmt: skip


def probe_leg(call: Call, call_id: str) -> Leg | None:
    """The leg of ``call`` with the probe's Call-ID, or None."""
    return next((leg for leg in call.legs if leg.call_id == call_id), None)


def find_probe_call(record: ProbeRecord, calls: Iterable[Call]) -> Call | None:
    """The captured call holding the probe's leg (its Call-ID), or None."""
    return next((c for c in calls if probe_leg(c, record.call_id) is not None), None)


def check_probe(record: ProbeRecord, call: Call | None) -> ProbeCheck:
    """Compare the probe's record with the call callwatch assembled (None: never seen)."""
    probe_ring = record.ring_seconds
    probe_answer = record.answer_seconds
    if call is None:
        return ProbeCheck(
            call_id=record.call_id,
            number=record.number,
            outcome="missing",
            probe_ring_s=probe_ring,
            probe_answer_s=probe_answer,
        )
    leg = probe_leg(call, record.call_id)
    assert leg is not None, "check_probe needs the call that holds the probe's leg"
    problems: list[Problem] = []
    if call.caller != record.from_user:
        problems.append(Problem("caller", call.caller, record.from_user))
    if call.dialled != record.number:
        problems.append(Problem("dialled", call.dialled, record.number))
    if abs(leg.offered_at - record.invite_at) > CLOCK_TOLERANCE_S * _US:
        problems.append(Problem("clock", (leg.offered_at - record.invite_at) / _US))
    seen_answer = _span(leg.offered_at, leg.answered_at)
    seen_ring = _span(leg.alerting_at, leg.answered_at)
    if (seen_answer is None) != (probe_answer is None):
        problems.append(Problem("answer", seen_answer, probe_answer))
    else:
        _compare(problems, "answer", seen_answer, probe_answer)
        _compare(problems, "ring", seen_ring, probe_ring)
    if record.ended_at is not None or leg.ended_at is not None:
        _compare(problems, "ended", _span(leg.offered_at, leg.ended_at),
                 _span(record.invite_at, record.ended_at))  # fmt: skip
    return ProbeCheck(
        call_id=record.call_id, number=record.number,
        outcome="mismatch" if problems else "ok", problems=tuple(problems),
        call=call.id, department=call.department, probe_ring_s=probe_ring,
        seen_ring_s=seen_ring, probe_answer_s=probe_answer, seen_answer_s=seen_answer,
        staff_ring_s=call.ring_seconds,
    )  # fmt: skip


class ProbeMonitor:
    """Probe records waiting for their call to be captured.

    :meth:`expect` files a finished probe call; :meth:`on_call` gives each captured call that
    holds a filed probe's leg its check; :meth:`expire` gives ``missing`` for every probe still
    unseen :data:`MISSING_AFTER_S` after it ended. Times are microseconds, passed in.

    A captured call with a probe's Call-ID (:func:`~callwatch.probe.tagging.is_probe_call_id`)
    that comes out before its record is filed is kept (the last :data:`EARLY_KEPT`), and
    :meth:`expect` checks the record against it at once.
    """

    EARLY_KEPT = 64

    def __init__(self, missing_after_s: float = MISSING_AFTER_S) -> None:
        self._waiting: dict[str, ProbeRecord] = {}
        self._early: dict[str, Call] = {}
        self._missing_after = round(missing_after_s * _US)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def expect(self, record: ProbeRecord) -> list[ProbeCheck]:
        """File ``record``; its check now when its call was captured already, else []."""
        call = self._early.pop(record.call_id, None)
        if call is not None:
            return [check_probe(record, call)]
        self._waiting[record.call_id] = record
        return []

    def on_call(self, call: Call) -> list[ProbeCheck]:
        checks = []
        for leg in call.legs:
            record = self._waiting.pop(leg.call_id, None)
            if record is not None:
                checks.append(check_probe(record, call))
            elif is_probe_call_id(leg.call_id):
                self._early[leg.call_id] = call
                while len(self._early) > self.EARLY_KEPT:
                    del self._early[next(iter(self._early))]
        return checks

    def expire(self, now: int) -> list[ProbeCheck]:
        late = [
            r
            for r in self._waiting.values()
            if (r.ended_at or r.invite_at) + self._missing_after <= now
        ]
        for record in late:
            del self._waiting[record.call_id]
        return [check_probe(record, None) for record in late]


def _span(start: int | None, end: int | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start) / _US, 6)


def _compare(
    problems: list[Problem], what: ProblemCode, seen: float | None, probe: float | None
) -> None:
    """A problem when one side saw the interval and the other did not, or when the two differ
    by more than :data:`RING_TOLERANCE_S`."""
    if seen is None or probe is None:
        if (seen is None) != (probe is None):
            problems.append(Problem(what, seen, probe))
        return
    if abs(seen - probe) > RING_TOLERANCE_S:
        problems.append(Problem(what, seen, probe))


def _float(value: str | float | None) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _show(value: str | float | None) -> str:
    return "none" if value is None else f"{_float(value):.3f} s"
