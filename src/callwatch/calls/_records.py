"""The assembler's working records: open calls, their legs and segments (private).

A call is made of *segments*, each a group of B2BUA legs carrying one conversation path:
the ``primary`` segment (trunk and phone legs of the original call), ``consultation``
segments (a staff member calls a colleague while the customer is on hold) and ``transfer``
segments (the legs that reach a transfer target). A leg joined to another leg by a header or
the heuristic joins that leg's segment, so the PBX-side twin of a consultation leg is a
consultation leg too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from callwatch.calls.ami_links import AttendedTransfer
from callwatch.calls.directory import Directory, normalize_number
from callwatch.calls.model import Leg, TransferStyle
from callwatch.frozen import fast_init
from callwatch.sip.events import (
    Alerting,
    Answered,
    Ended,
    Held,
    LegEvent,
    Offered,
    Referred,
    Side,
)

SegmentKind = Literal["primary", "consultation", "transfer"]


@dataclass(slots=True, eq=False)
class Referral:
    """A REFER seen on a leg: ``referrer`` is the staff member who sent it (normalised)."""

    leg: LegRecord
    event: Referred
    referrer: str | None
    target: str | None
    segment: Segment | None = None
    style: TransferStyle = "refer"
    """``feature_code`` when no REFER was sent and the PBX's own event stands for one (AMI)."""


@dataclass(slots=True, eq=False)
class Segment:
    """A group of legs carrying one path of the call (see the module docstring)."""

    kind: SegmentKind
    holder: str | None = None
    referral: Referral | None = None
    replaces: str | None = None

    def __init__(
        self,
        kind: SegmentKind,
        holder: str | None = None,
        referral: Referral | None = None,
        replaces: str | None = None,
    ) -> None:
        self.kind = kind
        self.holder = holder
        self.referral = referral
        self.replaces = replaces


@dataclass(slots=True, eq=False)
class LegRecord:
    """One leg of an open call, with how it was joined (``call-id``, ``header:X-CID`` ...)."""

    leg: Leg
    call: CallRecord
    segment: Segment
    joined_by: str
    truncated: bool = False
    keys: tuple[tuple[str, str], ...] = ()  # correlation keys it holds in the index
    order: int = 0  # placement number: legs placed earlier have smaller ones
    queue_member: str | None = None  # the queue member the PBX rang on this leg (AMI)
    # Where the assembler indexes the leg while it is up: its caller and dialled number
    # (normalised, None for none), and whether it is also under the number dialled from our
    # side. ``parties_indexed`` turns False once it is taken out (it ended, or its call closed).
    caller_key: str | None = None
    dialled_key: str | None = None
    ours_dialled: bool = False
    parties_indexed: bool = False

    def __init__(
        self,
        leg: Leg,
        call: CallRecord,
        segment: Segment,
        joined_by: str,
        truncated: bool = False,
        keys: tuple[tuple[str, str], ...] = (),
        order: int = 0,
        queue_member: str | None = None,
        caller_key: str | None = None,
        dialled_key: str | None = None,
        ours_dialled: bool = False,
        parties_indexed: bool = False,
    ) -> None:
        self.leg = leg
        self.call = call
        self.segment = segment
        self.joined_by = joined_by
        self.truncated = truncated
        self.keys = keys
        self.order = order
        self.queue_member = queue_member
        self.caller_key = caller_key
        self.dialled_key = dialled_key
        self.ours_dialled = ours_dialled
        self.parties_indexed = parties_indexed


@dataclass(slots=True, eq=False)
class CallRecord:
    """An open call: its legs in join order and the REFERs seen on them."""

    seq: int
    legs: list[LegRecord] = field(default_factory=list)
    referrals: list[Referral] = field(default_factory=list)
    last_at: int = 0
    ami_attended: tuple[AttendedTransfer, ...] = ()
    """Asterisk's ``AttendedTransfer`` events about this call (the manager stream)."""

    def __init__(
        self,
        seq: int,
        legs: list[LegRecord] | None = None,
        referrals: list[Referral] | None = None,
        last_at: int = 0,
        ami_attended: tuple[AttendedTransfer, ...] = (),
    ) -> None:
        self.seq = seq
        self.legs = list() if legs is None else legs
        self.referrals = list() if referrals is None else referrals
        self.last_at = last_at
        self.ami_attended = ami_attended

    def all_ended(self) -> bool:
        return all(r.leg.ended_at is not None for r in self.legs)

    def last_end(self) -> int:
        return max((r.leg.ended_at or 0) for r in self.legs)


def apply_event(leg: Leg, event: LegEvent) -> None:
    """Fold one leg event into the leg summary (first occurrence of each wins)."""
    leg.events.append(event)
    if isinstance(event, Offered):
        leg.offered_at = min(leg.offered_at, event.at)
        if leg.dialled is None:
            leg.dialled = event.dialled
    elif isinstance(event, Alerting):
        if leg.alerting_at is None:
            leg.alerting_at = event.at
    elif isinstance(event, Answered):
        if leg.answered_at is None:
            leg.answered_at = event.at
            leg.answered_by = event.by or leg.to_user
    elif isinstance(event, Held):
        if leg.held_at is None:
            leg.held_at = event.at
    elif isinstance(event, Ended) and leg.ended_at is None:
        leg.ended_at = event.at
        leg.ended_by = event.by
        leg.end_reason = event.reason


def user_of(uri: str | None) -> str | None:
    """The normalised user part of a URI or name-addr (``<sip:2002@pbx;x=y?h=v>`` → 2002)."""
    if not uri:
        return None
    text = uri.strip()
    if "<" in text:
        text = text[text.index("<") + 1 :].split(">", 1)[0]
    for scheme in ("sips:", "sip:", "tel:"):
        if text.lower().startswith(scheme):
            text = text[len(scheme) :]
            break
    text = text.split("@", 1)[0].split(";", 1)[0].split("?", 1)[0]
    return normalize_number(text) or None


def callee_users(leg: Leg) -> list[str]:
    """Every user part that stands for the leg's callee: To, Request-URI, answering Contact."""
    users = []
    for user in (leg.to_user, leg.dialled, leg.answered_by):
        if user:
            number = normalize_number(user)
            if number:
                users.append(number)
    for event in leg.events:
        if isinstance(event, Alerting) and event.by:
            number = normalize_number(event.by)
            if number:
                users.append(number)
    return users


def callee_user(leg: Leg, directory: Directory) -> str | None:
    """The callee as one user part: the staff member if one is named, else To, else dialled."""
    users = callee_users(leg)
    return next((u for u in users if directory.is_staff(u)), users[0] if users else None)


def side_user(leg: Leg, side: Side | None, directory: Directory) -> str | None:
    """The normalised user part on ``side`` of the leg (None for an unknown side)."""
    if side == "caller":
        return normalize_number(leg.from_user)
    if side == "callee":
        return callee_user(leg, directory)
    return None


def is_staff_leg(leg: Leg, directory: Directory) -> bool:
    """True when the leg's callee is a staff phone."""
    return any(map(directory.is_staff, callee_users(leg)))


def has_staff_side(leg: Leg, directory: Directory) -> bool:
    """True when either end of the leg is a staff phone."""
    return directory.is_staff(leg.from_user) or is_staff_leg(leg, directory)


# written out (callwatch.frozen): compiled, the generated ones would run interpreted
fast_init(Segment, Segment.__init__)
fast_init(LegRecord, LegRecord.__init__)
fast_init(CallRecord, CallRecord.__init__)
