"""The charter rules: one pure function per phone promise, ``(call, profile) -> [Verdict]``,
each declared once in :mod:`callwatch.charter.registry` (name, titles, unit, profile table)
right after its function; :func:`judge` runs the registered rules in their order.

Which calls are judged:

- only ``inbound`` calls (a citizen calling the office); ``outbound``, ``internal`` and
  ``external`` calls are recorded, never judged: every rule returns ``[]`` for them;
- never an incomplete call (``complete=False``, cut off by the end of a capture or a restart):
  every rule returns ``[]``, so a capture boundary can never produce a breach;
- a rule the profile does not make (``None`` in the profile) returns ``[]``: it is *absent*,
  not passed.

Times are compared in whole microseconds, so ``5.999999 s`` keeps a 6 s limit and ``6.0 s``
breaks it without floating-point doubt.
"""

from __future__ import annotations

from callwatch.calls.model import Call, Transfer
from callwatch.charter import registry
from callwatch.charter.callbacks import Callback
from callwatch.charter.profile import Profile
from callwatch.charter.registry import MINUTE, SECOND, RuleSpec, register
from callwatch.charter.verdict import Verdict, detail_code

_US = 1_000_000


def _judged(call: Call) -> bool:
    return call.direction == "inbound" and call.complete


def _s(delta_us: int) -> float:
    return round(delta_us / _US, 6)


def rings_heard(seconds: float, profile: Profile) -> int:
    """Rings the caller has heard (begun) ``seconds`` after the first ring:
    ``floor(t / period) + 1``."""
    period_us = round(profile.cadence.period_s * _US)
    return round(seconds * _US) // period_us + 1


def answer(call: Call, profile: Profile) -> list[Verdict]:
    """Answer before ring N: ``ok`` when the staff answer came less than ``(N-1) × period``
    after the first staff ring.

    An unanswered call that rang to the limit fails (measured = its ring seconds); one the
    caller abandoned before the limit has no verdict; a call no staff phone rang for has none.
    A call the PBX answered itself (voicemail, IVR, queue, music on hold) that no staff
    member answered fails however long it rang: the caller never reached staff. Measured:
    from the first staff ring to the PBX's answer when the PBX took the call from ringing
    phones (voicemail), else to the end of the call (phones rang while the caller waited in a
    queue or on hold until they left).
    """
    if not _judged(call) or profile.answer is None or call.first_ring_at is None:
        return []
    limit = profile.answer_limit_s
    assert limit is not None
    limit_us = round(limit * _US)
    evidence = [f"first_ring@{call.first_ring_at}"]
    if call.answered_at is not None:
        rang_us = max(0, call.answered_at - call.first_ring_at)  # answered as it rang
        evidence.append(f"answered@{call.answered_at}")
        detail = detail_code("answer.staff", by=call.answered_by or None)
    elif call.pbx_answered_at is not None and call.ended_at is not None:
        took = call.pbx_answered_at
        if took <= call.first_ring_at:
            took = call.ended_at
        rang_us = took - call.first_ring_at
        evidence.append(f"pbx_answered@{call.pbx_answered_at}")
        detail = detail_code("answer.pbx")
    elif call.ended_at is not None and call.ended_at - call.first_ring_at >= limit_us:
        rang_us = call.ended_at - call.first_ring_at
        evidence.append(f"ended@{call.ended_at}")
        detail = detail_code("answer.unanswered")
    else:
        return []
    measured = _s(rang_us)
    return [
        Verdict(
            rule="answer",
            charter=profile.id,
            ok=call.answered_at is not None and rang_us < limit_us,
            measured=measured,
            limit=limit,
            detail=detail,
            rings=rings_heard(measured, profile),
            limit_rings=profile.answer.before_ring,
            evidence=tuple(evidence),
        )
    ]


ANSWER = register(
    RuleSpec(
        name="answer",
        title_ko="응답 속도",
        title_en="Answer speed",
        unit=SECOND,
        section="answer",
        keys=("before_ring", "source"),
        on_call=answer,
    )
)


def transfer(call: Call, profile: Profile) -> list[Verdict]:
    """One verdict per transfer: from its start (REFER, or the hold that began an attended
    transfer) to the target's answer, within the charter's limit.

    A transfer that never connected fails once the caller has waited past the limit
    (measured = the wait until the call ended); one the caller left before the limit has no
    verdict, as for an unanswered ring.
    """
    rule = profile.transfer
    if not _judged(call) or rule is None:
        return []
    limit_us = round(rule.limit_s * _US)
    verdicts = []
    for t in call.transfers:
        verdict = _transfer_verdict(call, t, profile, limit_us)
        if verdict is not None:
            verdicts.append(verdict)
    return verdicts


def _transfer_verdict(call: Call, t: Transfer, profile: Profile, limit_us: int) -> Verdict | None:
    rule = profile.transfer
    assert rule is not None
    evidence = [f"{t.kind}_transfer@{t.started_at}"]
    if t.connected_at is not None:
        waited = t.connected_at - t.started_at
        ok = waited <= limit_us if rule.inclusive else waited < limit_us
        evidence.append(f"connected@{t.connected_at}")
        detail = detail_code("transfer.connected", kind=t.kind, from_=t.from_ext, to=t.to_ext)
    elif call.ended_at is not None and call.ended_at - t.started_at >= limit_us:
        waited = call.ended_at - t.started_at
        ok = False
        evidence.append(f"ended@{call.ended_at}")
        detail = detail_code("transfer.never", kind=t.kind, from_=t.from_ext, to=t.to_ext)
    else:
        return None
    return Verdict(
        rule="transfer",
        charter=profile.id,
        ok=ok,
        measured=_s(waited),
        limit=rule.limit_s,
        detail=detail,
        evidence=tuple(evidence),
    )


TRANSFER = register(
    RuleSpec(
        name="transfer",
        title_ko="전화 연결",
        title_en="Transfer",
        unit=SECOND,
        section="transfer",
        keys=("limit_s", "inclusive", "source"),
        on_call=transfer,
    )
)


def hangup(call: Call, profile: Profile) -> list[Verdict]:
    """The caller hangs up first: ``ok`` when the first BYE of an answered call came from the
    caller, a breach when it came from staff. No verdict for an unanswered call, or when the
    PBX ended it (``system``) or nobody is known to have.

    The handset delay some charters add (Naju 1 s, Wanju 2 s) is not observable and is not
    judged; the verdict's detail carries the delay so the faces can say so.
    """
    rule = profile.hangup
    if not _judged(call) or rule is None or not rule.caller_first or call.answered_at is None:
        return []
    if call.hangup_by not in ("caller", "agent"):
        return []
    detail = detail_code(f"hangup.{call.hangup_by}", handset_delay_s=rule.staff_delay_s)
    evidence: tuple[str, ...] = (f"hangup_by={call.hangup_by}",)
    if call.ended_at is not None:
        evidence = (f"ended@{call.ended_at}", *evidence)
    return [
        Verdict(
            rule="hangup",
            charter=profile.id,
            ok=call.hangup_by == "caller",
            measured=None,
            limit=None,
            unit="",
            detail=detail,
            evidence=evidence,
        )
    ]


HANGUP = register(
    RuleSpec(
        name="hangup",
        title_ko="끊는 순서",
        title_en="Hang-up order",
        unit=None,
        section="hangup",
        keys=("caller_first", "staff_delay_s", "note", "source"),
        on_call=hangup,
    )
)


def callback(cb: Callback, profile: Profile) -> list[Verdict]:
    """The callback promise of a missed call: ``kept`` passes, ``late`` and ``missed`` fail.

    No verdict while it is ``open`` (not yet decided), when the charter makes no callback
    promise, or when there is no deadline (Dangjin with no time promised to the caller).
    """
    rule = profile.callback
    if rule is None or cb.due_at is None or cb.status == "open":
        return []
    evidence = [f"opened@{cb.opened_at}", f"due@{cb.due_at}"]
    if cb.called_back_at is not None:
        evidence.append(f"called_back@{cb.called_back_at}")
    detail = detail_code(f"callback.{cb.status}", by=cb.by or None, requested=cb.requested or None)
    return [
        Verdict(
            rule="callback",
            charter=profile.id,
            ok=cb.status == "kept",
            measured=cb.delay_seconds,
            limit=cb.allowed_seconds,
            detail=detail,
            evidence=tuple(evidence),
        )
    ]


CALLBACK = register(
    RuleSpec(
        name="callback",
        title_ko="회신 전화",
        title_en="Callback",
        unit=MINUTE,
        section="callback",
        keys=("deadline_min", "promised_time", "deadline_clock", "keeps", "keeps_why", "source"),
        on_callback=callback,
    )
)


def judge(call: Call, profile: Profile, cb: Callback | None = None) -> list[Verdict]:
    """Every registered rule of ``profile`` on ``call`` (and on its callback, when one is
    given), in the registry's order."""
    verdicts: list[Verdict] = []
    for rule in registry.rules():
        if rule.on_call is not None:
            verdicts += rule.on_call(call, profile)
        elif cb is not None and rule.on_callback is not None:
            verdicts += rule.on_callback(cb, profile)
    return verdicts


def judge_callback(cb: Callback, profile: Profile) -> list[Verdict]:
    """Every registered callback rule of ``profile`` on the decided callback ``cb``."""
    verdicts: list[Verdict] = []
    for rule in registry.rules():
        if rule.on_callback is not None:
            verdicts += rule.on_callback(cb, profile)
    return verdicts
