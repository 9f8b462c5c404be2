"""Transfers of a finished call, read off its legs (private to the assembler).

Four signatures are read from SIP, each giving one :class:`~callwatch.calls.model.Transfer`;
Asterisk's ``AttendedTransfer``, when its manager stream is read, completes one of them or
gives one of its own.

``blind``
    A REFER without Replaces on leg L, sent by staff member A, to target T. The legs the
    assembler joined for that REFER (INVITEd to T within the refer window) are the transfer
    legs. ``started_at`` = the REFER; ``connected_at`` = the first answer of a transfer leg,
    or, when no transfer leg is visible, the first 2xx sipfrag NOTIFY on L after the REFER.

``attended``
    A holds the customer, calls colleague B on a consultation leg (its Call-ID X), then
    either sends a REFER whose Refer-To carries ``Replaces=X``, or the customer side sends an
    INVITE with ``Replaces: X``. ``started_at`` = the hold that began it (the last hold by A
    not resumed before the consultation was offered; without one, the consultation's offer);
    ``connected_at`` = B's answer of the consultation, because the charter's "connect within
    10 s" counts from the start of the transfer to the target picking up; ``completed_at`` =
    the answer of the replacing INVITE, else the REFER (when the customer reaches B).

``local_attended`` (Asterisk bridging on the PBX, no Replaces on the wire)
    A holds the customer, calls B on a consultation (two legs through the PBX: A's own leg,
    offered first, and the PBX's leg to B), B answers, then A hangs up (BYE from A's side on
    the held leg or on A's consultation leg) with no REFER, and both B's leg and the
    customer's leg are still up ``_BRIDGE_GRACE_US`` later: the PBX has bridged them. Times
    as for ``attended``; ``completed_at`` = A's BYE. A consultation A ends herself is told
    apart by B's leg ending with it (the PBX tears it down within milliseconds).

``feature_code`` (DTMF feature codes, no REFER: Asterisk ``features.conf`` blindxfer/atxfer)
    The PBX starts a leg T to the target B from the customer's channel, joined to the call
    (linkedid header or heuristic), after A's leg was answered. Blind: the PBX hangs up A's
    leg (its BYE) and offers T within ``_FEATURE_GAP_US``; ``started_at`` = that BYE. Attended:
    T is offered while A's leg is up and A's phone hangs up while T is up, and T and the
    customer's leg outlive A's BYE by ``_BRIDGE_GRACE_US``; ``started_at`` = T's offer,
    ``completed_at`` = A's BYE. ``connected_at`` = T's answer. Kind ``blind`` or ``attended``,
    style ``feature_code``.

``AttendedTransfer`` (Asterisk's manager event, when its stream is read)
    Asterisk says it handed the customer to the target's channel: the target's leg is the
    dialog of that channel. A transfer the signatures above found with that leg keeps its
    times, but is completed at the event; one they missed is made from the event: from the
    transferor (the callee of the transferor's leg with the customer) to the target's callee,
    started at the transferor's hold before the target's leg was offered (else that offer),
    connected at the target's answer, completed at the event; ``style`` ``feature_code`` when
    the target's leg is in the customer's primary segment (Asterisk dialled it from the
    customer's channel), else ``local_bridge``.

Legs the transferor leaves (the REFERred leg, replaced consultation legs, A's legs in a local
attended transfer) are *excluded* from the hang-up judgement; consultation legs that carry
the customer after the transfer are *bridged* (they get the role ``transfer``); a feature-code
transfer's target leg, in the primary segment, is *moved* (role ``transfer``, no ring or answer
of the call).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from callwatch.calls._records import (
    CallRecord,
    LegRecord,
    Referral,
    Segment,
    callee_user,
    callee_users,
    side_user,
)
from callwatch.calls.ami_links import AttendedTransfer
from callwatch.calls.directory import Directory
from callwatch.calls.model import Leg, Transfer, TransferKind
from callwatch.frozen import fast_init
from callwatch.sip.events import Held, Resumed, TransferProgress

_BRIDGE_GRACE_US = 1_000_000
"""How long B's leg and the customer's leg must outlive A's BYE to count as bridged."""

_FEATURE_GAP_US = 2_000_000
"""The longest gap between the PBX's BYE to the transferor and its INVITE to the target of a
blind feature-code transfer (Asterisk: about 20 ms)."""


@dataclass(slots=True)
class Findings:
    """What the transfer analysis tells the summary."""

    transfers: list[Transfer] = field(default_factory=list)
    excluded: set[int] = field(default_factory=set)
    bridged: set[int] = field(default_factory=set)
    moved: set[int] = field(default_factory=set)
    """Legs of the primary segment that carry a transfer (a feature-code transfer's target)."""

    def __init__(
        self,
        transfers: list[Transfer] | None = None,
        excluded: set[int] | None = None,
        bridged: set[int] | None = None,
        moved: set[int] | None = None,
    ) -> None:
        self.transfers = list() if transfers is None else transfers
        self.excluded = set() if excluded is None else excluded
        self.bridged = set() if bridged is None else bridged
        self.moved = set() if moved is None else moved


def find_transfers(
    call: CallRecord, directory: Directory, *, feature_codes: bool = True
) -> Findings:
    """Every transfer of ``call``, with the legs they exclude from / bridge into the call.
    ``feature_codes`` False leaves out the DTMF feature-code signatures (a PBX without them)."""
    found = Findings()
    handled: set[str] = set()
    for ref in call.referrals:
        if ref.event.replaces is None:
            _blind(call, ref, directory, found)
        elif ref.event.replaces not in handled:
            handled.add(ref.event.replaces)
            _attended(call, ref.event.replaces, ref, directory, found)
    consultations: list[Segment] = []
    for rec in call.legs:
        seg = rec.segment
        replaced = seg.replaces
        if replaced is not None and replaced not in handled:
            handled.add(replaced)
            _attended(call, replaced, None, directory, found)
        if seg.kind == "consultation" and seg not in consultations:
            consultations.append(seg)
    for seg in consultations:
        legs = [r for r in call.legs if r.segment is seg]
        if not any(r.leg.call_id in handled for r in legs):
            _local_attended(call, seg, legs, directory, found)
    if feature_codes:
        _feature_code(call, directory, found)
    for fact in call.ami_attended:
        _ami_attended(call, fact, directory, found)
    found.transfers.sort(key=lambda t: t.started_at)
    return found


def _ami_attended(
    call: CallRecord, fact: AttendedTransfer, directory: Directory, found: Findings
) -> None:
    by_call_id = {r.leg.call_id: r for r in call.legs}
    target = by_call_id.get(fact.target_call_id or "")
    if target is None:
        return
    for i, transfer in enumerate(found.transfers):
        if target.leg.leg in transfer.legs and transfer.kind != "blind":
            found.transfers[i] = replace(transfer, completed_at=fact.at)
            return
    own = [by_call_id.get(c or "") for c in (fact.transferer_call_id, fact.second_call_id)]
    own_legs = [r for r in own if r is not None and r is not target]
    holder = callee_user(own_legs[0].leg, directory) if own_legs else None
    offered = target.leg.offered_at
    primary = target.segment.kind == "primary"
    found.transfers.append(
        Transfer(
            kind="attended",
            from_ext=holder,
            to_ext=callee_user(target.leg, directory),
            started_at=_hold_start(call, holder, offered, directory) or offered,
            connected_at=target.leg.answered_at,
            completed_at=fact.at,
            legs=(target.leg.leg,),
            style="feature_code" if primary else "local_bridge",
        )
    )
    found.excluded.update(id(r) for r in own_legs)
    if primary:
        found.moved.add(id(target))
    else:
        found.bridged.add(id(target))


def _blind(call: CallRecord, ref: Referral, directory: Directory, found: Findings) -> None:
    legs = [r for r in call.legs if ref.segment is not None and r.segment is ref.segment]
    answered = _first_answered(legs)
    if answered is not None:
        connected: int | None = answered.leg.answered_at
        target = callee_user(answered.leg, directory)
    else:
        connected = _notify_ok(ref)
        target = ref.target
    found.transfers.append(
        Transfer(
            kind="blind",
            from_ext=ref.referrer,
            to_ext=target or ref.target,
            started_at=ref.event.at,
            connected_at=connected,
            legs=tuple(r.leg.leg for r in legs),
            style=ref.style,
        )
    )
    found.excluded.add(id(ref.leg))


def _attended(
    call: CallRecord,
    replaced: str,
    ref: Referral | None,
    directory: Directory,
    found: Findings,
) -> None:
    named = [r for r in call.legs if r.leg.call_id == replaced]
    segment = named[0].segment if named and named[0].segment.kind == "consultation" else None
    consult = [r for r in call.legs if segment is not None and r.segment is segment]
    replacing = [r for r in call.legs if r.segment.replaces == replaced]
    holder = ref.referrer if ref is not None else None
    if holder is None and consult:
        holder = segment.holder if segment is not None else None
    consult_start = min((r.leg.offered_at for r in consult), default=None)
    fallback = consult_start
    if fallback is None:
        fallback = ref.event.at if ref is not None else min(r.leg.offered_at for r in replacing)
    started = _hold_start(call, holder, consult_start or fallback, directory) or fallback
    answered = _first_answered(consult)
    target = callee_user(answered.leg, directory) if answered else None
    if target is None and ref is not None:
        target = ref.target
    done = _first_answered(replacing)
    completed = done.leg.answered_at if done else (ref.event.at if ref else None)
    connected = answered.leg.answered_at if answered else None
    if connected is None and ref is not None:
        connected = _notify_ok(ref)
    found.transfers.append(
        Transfer(
            kind="attended",
            from_ext=holder,
            to_ext=target,
            started_at=started,
            connected_at=connected,
            completed_at=completed,
            legs=tuple(r.leg.leg for r in consult + replacing),
            style="refer" if ref is not None else "replaces",
        )
    )
    if ref is not None:
        found.excluded.add(id(ref.leg))
    found.excluded.update(id(r) for r in named)
    if replacing:
        found.excluded.update(id(r) for r in consult)
    elif ref is not None:
        for r in consult:
            if r not in named and _alive_after(r.leg, ref.event.at):
                found.bridged.add(id(r))


def _local_attended(
    call: CallRecord,
    segment: Segment,
    legs: list[LegRecord],
    directory: Directory,
    found: Findings,
) -> None:
    holder = segment.holder
    answered = _first_answered(legs)
    if holder is None or answered is None or answered.leg.answered_at is None:
        return
    answer_at = answered.leg.answered_at
    own = legs[0] if len(legs) > 1 else None
    holder_legs = [
        r
        for r in call.legs
        if r.segment.kind == "primary"
        and holder in (side_user(r.leg, "caller", directory), side_user(r.leg, "callee", directory))
    ]
    if own is not None:
        holder_legs.append(own)
    byes = [
        r.leg.ended_at
        for r in holder_legs
        if r.leg.end_reason == "bye"
        and r.leg.ended_at is not None
        and r.leg.ended_at >= answer_at
        and side_user(r.leg, r.leg.ended_by, directory) == holder
    ]
    if not byes:
        return
    hangup = min(byes)
    limit = hangup + _BRIDGE_GRACE_US
    targets = [r for r in legs if r is not own and r.leg.answered_at is not None]
    targets = [r for r in targets if _alive_after(r.leg, limit)]
    customer = [r for r in call.legs if r.segment.kind == "primary" and r not in holder_legs]
    if not targets or not any(_alive_after(r.leg, limit) for r in customer):
        return
    consult_start = min(r.leg.offered_at for r in legs)
    started = _hold_start(call, holder, consult_start, directory) or consult_start
    found.transfers.append(
        Transfer(
            kind="local_attended",
            from_ext=holder,
            to_ext=callee_user(targets[0].leg, directory),
            started_at=started,
            connected_at=answer_at,
            completed_at=hangup,
            legs=tuple(r.leg.leg for r in legs),
            style="local_bridge",
        )
    )
    found.excluded.update(id(r) for r in holder_legs)
    found.bridged.update(id(r) for r in targets)


def _feature_code(call: CallRecord, directory: Directory, found: Findings) -> None:
    """Transfers by DTMF feature code: the PBX sends no REFER and starts a leg to the target
    (T) from the customer's channel while the customer's leg stays up.

    Blind (blindxfer): the PBX hangs up the transferor's answered leg A (BYE from the PBX's
    side) and offers T within ``_FEATURE_GAP_US``. Attended (atxfer): T is offered while A is
    up, and A's phone hangs up (BYE) while T is up, with T and the customer's leg still up
    ``_BRIDGE_GRACE_US`` later. Only primary legs to staff phones are read, T offered after A
    was answered (a ring group's legs are all offered before any answer)."""
    if len(call.legs) < 3:
        return  # a customer's leg, A and T are three different legs
    primary = sorted(
        (r for r in call.legs if r.segment.kind == "primary"), key=lambda r: r.leg.offered_at
    )
    staff = [r for r in primary if r.joined_by != "first" and _to_staff(r, directory)]
    customer = [r for r in primary if r.joined_by == "first"]
    if not staff or not customer:
        return
    taken: set[int] = set()
    for a in staff:
        answered = a.leg.answered_at
        if answered is None or id(a) in taken or a.leg.end_reason != "bye":
            continue
        bye = a.leg.ended_at
        if bye is None:
            continue
        by_pbx = a.leg.ended_by == "caller"  # the PBX started A: its caller side is the PBX
        for t in staff:
            offered = t.leg.offered_at
            if t is a or id(t) in taken or offered <= answered:
                continue
            if callee_user(t.leg, directory) == callee_user(a.leg, directory):
                continue
            if by_pbx and 0 <= offered - bye <= _FEATURE_GAP_US:
                kind: TransferKind = "blind"
                started, completed = bye, None
            elif (
                not by_pbx
                and offered < bye
                and _alive_after(t.leg, bye + _BRIDGE_GRACE_US)
                and any(_alive_after(c.leg, bye + _BRIDGE_GRACE_US) for c in customer)
            ):
                kind = "attended"
                started, completed = offered, bye
            else:
                continue
            if not any(_alive_after(c.leg, started) for c in customer):
                continue
            taken.update((id(a), id(t)))
            found.transfers.append(
                Transfer(
                    kind=kind,
                    from_ext=callee_user(a.leg, directory),
                    to_ext=callee_user(t.leg, directory),
                    started_at=started,
                    connected_at=t.leg.answered_at,
                    completed_at=completed,
                    legs=(t.leg.leg,),
                    style="feature_code",
                )
            )
            found.excluded.add(id(a))
            found.moved.add(id(t))
            break


def _to_staff(rec: LegRecord, directory: Directory) -> bool:
    return any(map(directory.is_staff, callee_users(rec.leg)))


def _hold_start(
    call: CallRecord, holder: str | None, before: int, directory: Directory
) -> int | None:
    """The last hold by ``holder`` on a primary leg at or before ``before``, if still held."""
    if holder is None:
        return None
    latest: int | None = None
    for rec in call.legs:
        if rec.segment.kind != "primary":
            continue
        held: int | None = None
        for event in rec.leg.events:
            if event.at > before:
                continue
            if isinstance(event, Held | Resumed):
                if side_user(rec.leg, event.by, directory) != holder:
                    continue
                held = event.at if isinstance(event, Held) else None
        if held is not None and (latest is None or held > latest):
            latest = held
    return latest


def _notify_ok(ref: Referral) -> int | None:
    """The first 2xx sipfrag NOTIFY on the REFERred leg after the REFER."""
    for event in ref.leg.leg.events:
        if (
            isinstance(event, TransferProgress)
            and event.at >= ref.event.at
            and 200 <= event.status < 300
        ):
            return event.at
    return None


def _first_answered(legs: list[LegRecord]) -> LegRecord | None:
    answered = [r for r in legs if r.leg.answered_at is not None]
    return min(answered, key=lambda r: r.leg.answered_at or 0, default=None)


def _alive_after(leg: Leg, at: int) -> bool:
    return leg.ended_at is None or leg.ended_at > at


# written out (callwatch.frozen): compiled, the generated ones would run interpreted
fast_init(Findings, Findings.__init__)
