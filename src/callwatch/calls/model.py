"""The customer call: what one caller lives through, across every SIP leg.

Plain data, built by :mod:`callwatch.calls.assembler` and judged by :mod:`callwatch.charter`.
Times are capture microseconds (see :mod:`callwatch.timefmt`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from callwatch.fieldpickle import pickle_by_fields
from callwatch.frozen import fast_init
from callwatch.sip.events import LegEvent, Side

Direction = Literal["inbound", "outbound", "internal", "external"]
"""``inbound`` external → staff; ``outbound`` staff → external; ``internal`` staff → staff;
``external`` neither party is staff (transit traffic: recorded, never judged)."""

HangupBy = Literal["caller", "agent", "system"]
TransferKind = Literal["blind", "attended", "local_attended"]
TransferStyle = Literal["refer", "replaces", "local_bridge", "feature_code"]
"""How a transfer showed in signalling: a REFER (``refer``), an INVITE with ``Replaces``
(``replaces``), a consultation the PBX bridged with neither (``local_bridge``), or a DTMF
feature code (Asterisk ``features.conf`` blindxfer/atxfer) with no REFER at all
(``feature_code``)."""
LegRole = Literal["trunk", "phone", "transfer", "consultation", "direct"]
RingFrom = Literal["phone", "trunk"]
"""Whose 180/183 started the ring clock: a staff phone's own leg (``phone``), or, when no leg
the PBX started towards a phone is visible, the caller's leg into the PBX (``trunk``)."""
IncompleteReason = Literal["capture_ended", "capture_began", "stale"]
"""Why a call is incomplete: legs still up when the input ended (``capture_ended``), a leg seen
without its INVITE (``capture_began``), or no signalling for the assembler's ``stale_s``."""


@dataclass(slots=True)
class Leg:
    """One SIP dialog family of a call, summarised from its leg events."""

    leg: str
    call_id: str
    from_user: str | None
    to_user: str | None
    dialled: str | None
    offered_at: int
    role: LegRole = "direct"
    alerting_at: int | None = None
    answered_at: int | None = None
    answered_by: str | None = None
    ended_at: int | None = None
    ended_by: Side | None = None
    end_reason: str | None = None
    held_at: int | None = None
    events: list[LegEvent] = field(default_factory=list)

    def __init__(
        self,
        leg: str,
        call_id: str,
        from_user: str | None,
        to_user: str | None,
        dialled: str | None,
        offered_at: int,
        role: LegRole = "direct",
        alerting_at: int | None = None,
        answered_at: int | None = None,
        answered_by: str | None = None,
        ended_at: int | None = None,
        ended_by: Side | None = None,
        end_reason: str | None = None,
        held_at: int | None = None,
        events: list[LegEvent] | None = None,
    ) -> None:
        self.leg = leg
        self.call_id = call_id
        self.from_user = from_user
        self.to_user = to_user
        self.dialled = dialled
        self.offered_at = offered_at
        self.role = role
        self.alerting_at = alerting_at
        self.answered_at = answered_at
        self.answered_by = answered_by
        self.ended_at = ended_at
        self.ended_by = ended_by
        self.end_reason = end_reason
        self.held_at = held_at
        self.events = list() if events is None else events


@dataclass(slots=True)
class Transfer:
    """A transfer of the customer from one staff member to another.

    ``started_at`` is the REFER (blind) or the hold that began an attended transfer;
    ``connected_at`` the target's answer (None when it never connected). ``completed_at`` is
    when the customer reached the target in an attended transfer (the REFER, the replacing
    INVITE's answer, or the transferor's hang-up in a local attended transfer); None for
    blind transfers, where it equals ``connected_at``. ``style`` says how it showed on the
    wire (None in records written before it was kept). A blind feature-code transfer starts at
    the PBX's BYE to the transferor, an attended one at the PBX's INVITE to the target.
    """

    kind: TransferKind
    from_ext: str | None
    to_ext: str | None
    started_at: int
    connected_at: int | None = None
    legs: tuple[str, ...] = ()
    completed_at: int | None = None
    style: TransferStyle | None = None

    @property
    def seconds(self) -> float | None:
        if self.connected_at is None:
            return None
        return round((self.connected_at - self.started_at) / 1_000_000, 6)


@dataclass(slots=True)
class Call:
    """A customer call: legs, one time line, one department.

    ``first_ring_at`` is the first alerting of a *staff* phone (``ring_from`` says whose 180
    it was); ``answered_at``/``answered_by`` the first staff answer (a PBX answering for an IVR
    or voicemail does not count); ``pbx_answered_at`` is the PBX's own answer of the caller's
    leg when it came before any staff answer (IVR, voicemail, queue announcement, music on
    hold); ``correlation`` records how the legs were tied together (``call-id``,
    ``header:X-CID``, ``heuristic``, ``transfer``); ``complete`` is False when the call was cut
    short by the end of the capture or a restart (``incomplete_reason`` says which), and such a
    call is never judged a breach.
    """

    id: str
    direction: Direction
    caller: str | None
    dialled: str | None
    started_at: int
    department: str | None = None
    legs: list[Leg] = field(default_factory=list)
    first_ring_at: int | None = None
    answered_at: int | None = None
    answered_by: str | None = None
    ended_at: int | None = None
    hangup_by: HangupBy | None = None
    end_reason: str | None = None
    missed: bool = False
    transfers: list[Transfer] = field(default_factory=list)
    correlation: str = "call-id"
    complete: bool = True
    ring_from: RingFrom | None = None
    pbx_answered_at: int | None = None
    incomplete_reason: IncompleteReason | None = None

    def __init__(
        self,
        id: str,
        direction: Direction,
        caller: str | None,
        dialled: str | None,
        started_at: int,
        department: str | None = None,
        legs: list[Leg] | None = None,
        first_ring_at: int | None = None,
        answered_at: int | None = None,
        answered_by: str | None = None,
        ended_at: int | None = None,
        hangup_by: HangupBy | None = None,
        end_reason: str | None = None,
        missed: bool = False,
        transfers: list[Transfer] | None = None,
        correlation: str = "call-id",
        complete: bool = True,
        ring_from: RingFrom | None = None,
        pbx_answered_at: int | None = None,
        incomplete_reason: IncompleteReason | None = None,
    ) -> None:
        self.id = id
        self.direction = direction
        self.caller = caller
        self.dialled = dialled
        self.started_at = started_at
        self.department = department
        self.legs = list() if legs is None else legs
        self.first_ring_at = first_ring_at
        self.answered_at = answered_at
        self.answered_by = answered_by
        self.ended_at = ended_at
        self.hangup_by = hangup_by
        self.end_reason = end_reason
        self.missed = missed
        self.transfers = list() if transfers is None else transfers
        self.correlation = correlation
        self.complete = complete
        self.ring_from = ring_from
        self.pbx_answered_at = pbx_answered_at
        self.incomplete_reason = incomplete_reason

    @property
    def ring_seconds(self) -> float | None:
        """Seconds from the first staff ring to the staff answer (None if either is missing)."""
        if self.first_ring_at is None or self.answered_at is None:
            return None
        return round((self.answered_at - self.first_ring_at) / 1_000_000, 6)

    @property
    def customer(self) -> str | None:
        """The customer's number: the caller of an inbound call, the dialled party of an
        outbound call; None for internal and transit calls."""
        if self.direction == "inbound":
            return self.caller
        if self.direction == "outbound":
            return self.dialled
        return None

    @property
    def events(self) -> list[LegEvent]:
        """Every leg event of the call on one time line."""
        return sorted((e for leg in self.legs for e in leg.events), key=lambda e: e.at)


pickle_by_fields(Leg, Transfer, Call)  # the service hands calls to its store process

# written out (callwatch.frozen): compiled, the generated ones would run interpreted
fast_init(Leg, Leg.__init__)
fast_init(Call, Call.__init__)
