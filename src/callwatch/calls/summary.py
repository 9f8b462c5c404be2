"""A finished call record becomes a :class:`~callwatch.calls.model.Call` (private).

One function per concern, each a pure reading of the legs; the rules they keep:

==============  ==============================================================================
concern         rule
==============  ==============================================================================
roles           primary segment of one leg: ``direct``; of several: a leg with no staff end is
                the ``trunk``, the others are ``phone`` legs; consultation legs stay
                ``consultation`` unless a transfer bridged them to the customer (``transfer``);
                legs of transfer segments and a feature-code transfer's target leg are
                ``transfer``.
direction       from the primary legs: caller = first leg's From; callee side = every To and
                Request-URI. The office's side is a staff extension or a department number.
                inbound = external → ours; outbound = ours → external; internal = ours → ours;
                external = neither (transit).
customer        inbound: the caller; outbound: the external number dialled; else the caller.
ring / answer   only primary legs count (never consultation or transfer legs). inbound and
                internal: legs whose callee is a staff phone (or a queue member the PBX's
                manager named: ``LegRecord.queue_member``), leaving out the leg that opened
                the call when the PBX's legs to staff phones are visible (its 180 and 200 are
                the PBX's: ``ring_from`` ``phone``, else ``trunk``); outbound: legs towards
                the external number; external: every primary leg. ``first_ring_at`` = their
                first Alerting, ``answered_at`` = their first 2xx; a PBX answering the trunk
                (IVR, voicemail, queue) is not a staff answer: ``pbx_answered_at`` when it came
                first.
answered_by     the staff member on the answering leg (Contact, else To, else dialled); for
                outbound calls the external number.
department      inbound/internal: of the first staff extension that rang, else that was
                offered, else of the department number dialled; outbound: of the caller.
hangup_by       the side of the earliest BYE on a leg the transferor did not leave and that is
                not a consultation leg. Sides map to parties: with a trunk leg, only the
                trunk's external end is the customer (``caller``), staff ends are ``agent``
                and every other end is the PBX (``system``); without one, the customer's
                number is ``caller``, staff ``agent``, the callee of a transit call ``agent``,
                anything else ``system``. No BYE: a CANCEL gives its sender; a failure
                response or a timeout gives ``system``; only the transferor's BYE (the
                rest of the call not on the wire): None.
end_reason      the trunk leg's; without a trunk, the last-ended leg among the answered
                non-consultation legs (else among all of them), leaving out the legs the
                transferor left (unless nothing else ended).
missed          inbound, complete, and no staff answer (also when the PBX answered).
complete        every leg ended and every leg was seen from its INVITE on; else
                ``incomplete_reason``: ``capture_ended`` (or ``stale``) with legs still up,
                ``capture_began`` for a leg seen without its INVITE.
==============  ==============================================================================
"""

from __future__ import annotations

from callwatch.calls._records import CallRecord, LegRecord, callee_users
from callwatch.calls.directory import Directory, normalize_number
from callwatch.calls.model import (
    Call,
    Direction,
    HangupBy,
    IncompleteReason,
    Leg,
    LegRole,
    RingFrom,
)
from callwatch.calls.transfers import Findings, find_transfers
from callwatch.sip.events import Side


def summarise(
    record: CallRecord,
    directory: Directory,
    cut: IncompleteReason = "capture_ended",
    *,
    feature_codes: bool = True,
) -> Call:
    """Build the customer call of a record whose legs are final (or cut short: ``cut`` says
    why, when some leg is still up). ``feature_codes`` False: the PBX has no DTMF transfers."""
    # Plain loops rather than comprehensions and generators where a call has a leg or two:
    # each of those is a function call of its own in the interpreter, once per call judged.
    legs = sorted(record.legs, key=_offered) if len(record.legs) > 1 else list(record.legs)
    findings = find_transfers(record, directory, feature_codes=feature_codes)
    moved = findings.moved
    primary = [r for r in legs if r.segment.kind == "primary" and id(r) not in moved] or legs[:1]
    members: set[int] = set()
    all_ended = True
    truncated = False
    ended_at = 0
    for rec in legs:
        leg = rec.leg
        if rec.queue_member is not None:
            members.add(id(leg))
        if leg.ended_at is None:
            all_ended = False
        elif leg.ended_at > ended_at:
            ended_at = leg.ended_at
        if rec.truncated:
            truncated = True
    callees = _Callees(directory, members)
    trunk = _assign_roles(legs, primary, findings, callees)
    first = primary[0].leg
    caller = normalize_number(first.from_user)
    direction = _direction(caller, primary, directory)
    customer = _customer(direction, caller, primary, directory)
    ring, ring_from = _ring_legs(direction, primary, callees)
    answered: LegRecord | None = None  # the first staff answer, the first leg of a tie
    answered_at: int | None = None
    first_ring_at: int | None = None
    for rec in ring:
        leg = rec.leg
        if leg.answered_at is not None and (answered_at is None or leg.answered_at < answered_at):
            answered, answered_at = rec, leg.answered_at
        if leg.alerting_at and (first_ring_at is None or leg.alerting_at < first_ring_at):
            first_ring_at = leg.alerting_at
    complete = all_ended and not truncated
    end_leg = _end_leg(legs, trunk, findings)
    reason: IncompleteReason | None = None
    if not all_ended:
        reason = cut
    elif truncated:
        reason = "capture_began"
    return Call(
        id=record.legs[0].leg.call_id,
        direction=direction,
        caller=caller,
        dialled=normalize_number(first.dialled or first.to_user),
        started_at=first.offered_at,
        department=_department(direction, caller, ring, primary, callees),
        legs=[r.leg for r in legs],
        first_ring_at=first_ring_at,
        answered_at=answered_at,
        answered_by=_answered_by(direction, answered.leg, callees) if answered else None,
        ended_at=ended_at if all_ended else None,
        hangup_by=_hangup_by(legs, end_leg, findings, trunk, direction, customer, callees),
        end_reason=end_leg.leg.end_reason if end_leg else None,
        missed=direction == "inbound" and complete and answered_at is None,
        transfers=findings.transfers,
        correlation=_correlation(legs),
        complete=complete,
        ring_from=ring_from if first_ring_at is not None else None,
        pbx_answered_at=_pbx_answer(direction, primary, ring, answered_at),
        incomplete_reason=reason,
    )


class _Callees:
    """The callee side of each leg of one call, read once: the callee's user parts come from
    the leg's fields and its Alerting events, and every concern below asks about them. The
    legs in ``members`` (ids) are queue members the PBX rang: staff legs even when the
    directory does not list their callee."""

    __slots__ = ("_facts", "_members", "directory")

    def __init__(self, directory: Directory, members: set[int] | None = None) -> None:
        self.directory = directory
        self._members = members or set()
        self._facts: dict[int, tuple[bool, str | None]] = {}

    def _of(self, leg: Leg) -> tuple[bool, str | None]:
        facts = self._facts.get(id(leg))
        if facts is None:
            users = callee_users(leg)
            is_staff = self.directory.is_staff
            staff = next((u for u in users if is_staff(u)), None)
            if staff is None:
                staff = users[0] if users else None
                facts = (id(leg) in self._members, staff)
            else:
                facts = (True, staff)
            self._facts[id(leg)] = facts
        return facts

    def is_staff_leg(self, leg: Leg) -> bool:
        """True when the leg's callee is a staff phone (``_records.is_staff_leg``)."""
        return self._of(leg)[0]

    def callee_user(self, leg: Leg) -> str | None:
        """The staff member called, else To, else dialled (``_records.callee_user``)."""
        return self._of(leg)[1]

    def has_staff_side(self, leg: Leg) -> bool:
        """True when either end of the leg is a staff phone (``_records.has_staff_side``)."""
        return self.directory.is_staff(leg.from_user) or self._of(leg)[0]

    def side_user(self, leg: Leg, side: Side | None) -> str | None:
        """The normalised user part on ``side`` of the leg (``_records.side_user``)."""
        if side == "caller":
            return normalize_number(leg.from_user)
        if side == "callee":
            return self._of(leg)[1]
        return None


def _assign_roles(
    legs: list[LegRecord], primary: list[LegRecord], found: Findings, callees: _Callees
) -> LegRecord | None:
    """Set every leg's role; return the trunk leg (the first, if several)."""
    has_staff_side = callees.has_staff_side
    with_trunk = False
    if len(primary) > 1:
        staff_ends = [has_staff_side(r.leg) for r in primary]
        with_trunk = any(staff_ends) and not all(staff_ends)
    trunk: LegRecord | None = None
    for rec in legs:
        role: LegRole
        if rec.segment.kind == "consultation":
            role = "transfer" if id(rec) in found.bridged else "consultation"
        elif rec.segment.kind == "transfer" or id(rec) in found.moved:
            role = "transfer"
        elif len(primary) == 1:
            role = "direct"
        elif with_trunk and not has_staff_side(rec.leg):
            role = "trunk"
            trunk = trunk or rec
        else:
            role = "phone"
        rec.leg.role = role
    return trunk


def _direction(caller: str | None, primary: list[LegRecord], directory: Directory) -> Direction:
    caller_ours = directory.is_ours(caller)
    callee_ours = False
    for rec in primary:
        leg = rec.leg
        if (leg.to_user and directory.is_ours(leg.to_user)) or (
            leg.dialled and directory.is_ours(leg.dialled)
        ):
            callee_ours = True
            break
    if caller_ours:
        return "internal" if callee_ours else "outbound"
    return "inbound" if callee_ours else "external"


def _customer(
    direction: Direction, caller: str | None, primary: list[LegRecord], directory: Directory
) -> str | None:
    if direction != "outbound":
        return caller
    for rec in primary:
        for user in (rec.leg.dialled, rec.leg.to_user):
            if user and not directory.is_ours(user):
                return normalize_number(user)
    return None


def _ring_legs(
    direction: Direction, primary: list[LegRecord], callees: _Callees
) -> tuple[list[LegRecord], RingFrom]:
    """The legs whose ringing and answer are the staff's, and whose they are.

    Inbound and internal: the legs to a staff phone. When the PBX started some of them
    itself, those alone count: the leg the caller sent to the PBX (the one that opened the
    call) carries the PBX's own 180 (``Ringing()``, ``progressinband``, FreePBX) and its own
    200 (voicemail, IVR, queue), not a phone's; it counts only when no other staff leg is
    visible (``trunk``).
    """
    directory = callees.directory
    if direction in ("inbound", "internal"):
        staff = [r for r in primary if callees.is_staff_leg(r.leg)]
        if len(primary) > 1:
            opener = next((r for r in primary if r.joined_by == "first"), primary[0])
            phones = [r for r in staff if r is not opener]
            if phones:
                return phones, "phone"
            if staff:
                return staff, "trunk"
        return staff, "phone"
    if direction == "outbound":
        legs = [
            r
            for r in primary
            if not any(directory.is_ours(u) for u in (r.leg.to_user, r.leg.dialled) if u)
        ]
        return legs, "phone"
    return primary, "phone"


def _pbx_answer(
    direction: Direction,
    primary: list[LegRecord],
    ring: list[LegRecord],
    answered_at: int | None,
) -> int | None:
    """The PBX's own answer of the caller (IVR, voicemail, queue, music on hold): the first
    2xx on a primary leg that is not a staff leg, when it came before any staff answer."""
    if direction not in ("inbound", "internal"):
        return None
    pbx: int | None = None
    for rec in primary:
        at = rec.leg.answered_at
        if at and (pbx is None or at < pbx) and rec not in ring:  # records compare by identity
            pbx = at
    if pbx is None or (answered_at is not None and answered_at <= pbx):
        return None
    return pbx


def _answered_by(direction: Direction, leg: Leg, callees: _Callees) -> str | None:
    if direction == "outbound":
        return normalize_number(leg.to_user or leg.dialled)
    return callees.callee_user(leg)


def _department(
    direction: Direction,
    caller: str | None,
    ring: list[LegRecord],
    primary: list[LegRecord],
    callees: _Callees,
) -> str | None:
    directory = callees.directory
    if direction == "outbound":
        return directory.department_of_extension(caller) or directory.department_of_number(caller)
    if direction == "external":
        return None
    rang = sorted((r for r in ring if r.leg.alerting_at is not None), key=_alert_time)
    for rec in rang + ring:
        department = directory.department_of_extension(callees.callee_user(rec.leg))
        if department is not None:
            return department
    for rec in primary:
        for user in (rec.leg.dialled, rec.leg.to_user):
            department = directory.department_of_number(user)
            if department is not None:
                return department
    return None


def _offered(rec: LegRecord) -> int:
    return rec.leg.offered_at


def _alert_time(rec: LegRecord) -> int:
    return rec.leg.alerting_at or 0


def _end_leg(legs: list[LegRecord], trunk: LegRecord | None, found: Findings) -> LegRecord | None:
    if trunk is not None:
        return trunk if trunk.leg.ended_at is not None else None
    if len(legs) == 1:  # what the rest finds for one leg
        return legs[0] if legs[0].leg.ended_at is not None else None
    pool = [
        r
        for r in legs
        if r.leg.ended_at is not None
        and r.leg.role != "consultation"
        and id(r) not in found.excluded
    ]
    pool = pool or [r for r in legs if r.leg.ended_at is not None]
    answered = [r for r in pool if r.leg.answered_at is not None]
    return max(answered or pool, key=lambda r: r.leg.ended_at or 0, default=None)


def _hangup_by(
    legs: list[LegRecord],
    end_leg: LegRecord | None,
    found: Findings,
    trunk: LegRecord | None,
    direction: Direction,
    customer: str | None,
    callees: _Callees,
) -> HangupBy | None:
    byes = [
        r
        for r in legs
        if r.leg.end_reason == "bye"
        and r.leg.ended_by is not None
        and r.leg.role != "consultation"
        and id(r) not in found.excluded
    ]
    first = min(byes, key=lambda r: r.leg.ended_at or 0, default=None)
    if first is not None:
        return _party(first, first.leg.ended_by, trunk, direction, customer, callees)
    if end_leg is None:
        return None
    if end_leg.leg.end_reason == "cancel" and end_leg.leg.ended_by is not None:
        return _party(end_leg, end_leg.leg.ended_by, trunk, direction, customer, callees)
    if end_leg.leg.end_reason == "bye":
        return None  # only the transferor's BYE was seen: who ended the call is unknown
    return "system"


def _party(
    rec: LegRecord,
    side: Side | None,
    trunk: LegRecord | None,
    direction: Direction,
    customer: str | None,
    callees: _Callees,
) -> HangupBy:
    user = callees.side_user(rec.leg, side)
    staff = callees.directory.is_staff(user) or (side == "callee" and callees.is_staff_leg(rec.leg))
    if trunk is not None and rec.leg.role != "trunk":
        return "agent" if staff else "system"
    if user is not None and user == customer:
        return "caller"
    if user is None and rec.leg.role == "trunk" and side == "caller" and direction == "inbound":
        return "caller"  # a withheld caller with no user part at all
    if rec.leg.role == "trunk":
        return "system"
    if staff or (direction == "external" and side == "callee"):
        return "agent"
    return "system"


def _correlation(legs: list[LegRecord]) -> str:
    unjoined: str | None = None
    header: str | None = None
    transfer = False
    for rec in legs:
        how = rec.joined_by
        if how == "heuristic":
            return "heuristic"
        if how.startswith("ambiguous:"):
            unjoined = unjoined or how
        elif how.startswith("header:") or how in ("hep", "ami"):
            header = header or how
        elif how == "transfer":
            transfer = True
    if unjoined is not None:
        return unjoined  # a withheld caller's leg that could belong to several calls
    if header is not None:
        return header
    return "transfer" if transfer else "call-id"
