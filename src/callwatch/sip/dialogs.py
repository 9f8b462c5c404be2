"""The dialog tracker: SIP messages in, leg events out.

Rules this module keeps:

* Everything that decides a leg's state lives here, in :data:`TRANSITIONS`: one table from
  ``(state, signal)`` to ``(next state, event to emit)``. Classifying a message into a signal,
  and building the event, are separate small functions.
* No I/O and no clock. Time enters only with the messages (capture time) and through
  :meth:`DialogTracker.tick`, which lets timeouts fire when the line is quiet.

Theory of operation
-------------------
A *leg* is an INVITE dialog family (RFC 3261 §12): one Call-ID and the caller's From tag. The
forks of a proxy (several to-tags, RFC 3261 §13.2.2.4) are folded into the leg: the first
ringing fork makes the leg ``early``, the first 2xx makes it ``confirmed``. An in-dialog request
is matched to its leg by Call-ID and whichever of its two tags is the leg's From tag; the side
that sent it follows from that: the caller's tag in From means the caller sent it.

The same message is often seen several times: UDP retransmissions, a proxy's incoming and
outgoing copies, two capture agents. Every message is reduced to a *fingerprint* (Call-ID,
CSeq, method, status, tags) and a fingerprint is acted on once: the first copy, which is also
the earliest in time, wins. Copies on an inner hop carry more Via headers than the caller's
original: a CANCEL or a final failure seen only on an inner hop (a proxy hunting through a ring
group, cancelling the forks that lost) does not end the caller's leg.

Challenges (401/407) do not end a leg: the caller retries with a higher CSeq. A leg that goes
silent ends with reason ``timeout`` after the RFC 3261 timers (Timer B for no answer at all,
Timer C while ringing) or, once confirmed, after a configurable idle time. Ended legs linger
for a while so late retransmissions are recognised instead of starting new legs.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import count

from callwatch.fieldpickle import pickle_by_fields
from callwatch.frozen import fast_init
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
from callwatch.sip.message import SipMessage, SipParseError, parse_name_addr, parse_replaces
from callwatch.sip.sdp import sdp_direction, sipfrag_status

log = logging.getLogger(__name__)

SECOND = 1_000_000

#: Headers an assembler may use to tie legs of one customer call together.
CORRELATION_HEADERS = frozenset(
    {"p-asserted-identity", "referred-by", "replaces", "diversion", "history-info"}
)


_DIALOG_METHODS = frozenset({"INVITE", "BYE", "CANCEL", "REFER", "NOTIFY", "UPDATE"})
"""Requests that only make sense inside an INVITE dialog (an orphan when its leg is unknown)."""


class _Correlating(dict[str, bool]):
    """Header name → whether an Offered event carries it (see :data:`CORRELATION_HEADERS`);
    answers are remembered for the first few thousand names."""

    def __missing__(self, name: str) -> bool:
        answer = name in CORRELATION_HEADERS or name.startswith("x-")
        if len(self) < 4096:
            self[name] = answer
        return answer


_CORRELATING = _Correlating()


class State(StrEnum):
    """The state of a leg, as RFC 3261 names the INVITE dialog's phases."""

    CALLING = "calling"  # INVITE sent; nothing but 100 Trying back
    CHALLENGED = "challenged"  # 401/407 received; the caller is expected to retry
    EARLY = "early"  # a fork is ringing (18x)
    CONFIRMED = "confirmed"  # answered (2xx)
    TERMINATED = "terminated"


class Signal(StrEnum):
    """What a message means to the leg it belongs to."""

    RETRY = "retry"  # initial INVITE again with a higher CSeq (after a challenge)
    RINGING = "ringing"  # 180/183 to the initial INVITE
    SUCCESS = "success"  # 2xx to the initial INVITE
    CHALLENGE = "challenge"  # 401/407 to the initial INVITE
    FAILURE = "failure"  # 3xx-6xx (not 401/407) to the initial INVITE, outermost hop
    CANCEL = "cancel"  # CANCEL from the caller, outermost hop
    BYE = "bye"
    HOLD = "hold"  # re-INVITE/UPDATE offering sendonly/inactive media
    RESUME = "resume"  # re-INVITE/UPDATE offering sendrecv/recvonly media
    REFER = "refer"
    NOTIFY = "notify"  # NOTIFY with a message/sipfrag body
    TIMEOUT = "timeout"


C, H, E, K, T = State.CALLING, State.CHALLENGED, State.EARLY, State.CONFIRMED, State.TERMINATED
S = Signal

#: (state, signal) -> (next state, kind of event to emit or None). A pair not in the table
#: means the message changes nothing (a late 180 after the answer, a CANCEL after a 2xx, ...).
TRANSITIONS: dict[tuple[State, Signal], tuple[State, str | None]] = {
    (C, S.RINGING): (E, "alerting"),
    (C, S.SUCCESS): (K, "answered"),
    (C, S.CHALLENGE): (H, None),
    (C, S.FAILURE): (T, "ended"),
    (C, S.CANCEL): (T, "ended"),
    (C, S.TIMEOUT): (T, "ended"),
    (H, S.RETRY): (C, None),
    (H, S.RINGING): (E, "alerting"),  # a response to the retry overtook it in the capture
    (H, S.SUCCESS): (K, "answered"),
    (H, S.FAILURE): (T, "ended"),
    (H, S.CANCEL): (T, "ended"),
    (H, S.TIMEOUT): (T, "ended"),
    (E, S.SUCCESS): (K, "answered"),
    (E, S.FAILURE): (T, "ended"),
    (E, S.CANCEL): (T, "ended"),
    (E, S.TIMEOUT): (T, "ended"),
    (E, S.HOLD): (E, "held"),  # UPDATE in an early dialog (RFC 3311)
    (E, S.RESUME): (E, "resumed"),
    (E, S.BYE): (T, "ended"),  # BYE on an early dialog (RFC 3261 §15)
    (K, S.BYE): (T, "ended"),
    (K, S.HOLD): (K, "held"),
    (K, S.RESUME): (K, "resumed"),
    (K, S.REFER): (K, "referred"),
    (K, S.NOTIFY): (K, "transfer_progress"),
    (K, S.TIMEOUT): (T, "ended"),
    # The transferor often hangs up before the NOTIFYs finish: keep reporting them.
    (T, S.NOTIFY): (T, "transfer_progress"),
}


@dataclass(frozen=True, slots=True)
class Timeouts:
    """How long a silent leg may stay in a state, in microseconds."""

    no_response: int = 64 * SECOND  # twice Timer B: phones retransmit, then give up themselves
    challenged: int = 180 * SECOND  # a person may be typing a password
    ringing: int = 180 * SECOND  # Timer C
    confirmed_idle: int = 4 * 3600 * SECOND  # session timers refresh far more often
    linger: int = 32 * SECOND  # keep ended legs to absorb retransmissions


@dataclass(slots=True)
class TrackerStats:
    """Counters a service exports as metrics."""

    messages: int = 0
    duplicates: int = 0
    not_dialog: int = 0  # REGISTER, OPTIONS, SUBSCRIBE, ... outside an INVITE dialog
    orphans: int = 0  # in-dialog messages whose leg was never seen
    inner_hop: int = 0  # CANCEL/failure seen only between a proxy and a fork
    bad_headers: int = 0  # Refer-To, Replaces or bodies that did not parse
    events: int = 0
    legs_open: int = 0


@dataclass(slots=True)
class _Leg:
    key: str
    call_id: str
    from_tag: str
    from_user: str | None
    to_user: str | None
    offered_at: int
    invite_cseq: int
    min_vias: int
    state: State = State.CALLING
    last_at: int = 0
    cancel_at: int | None = None
    challenge_status: int | None = None
    challenge_at: int = 0
    answered: bool = False
    held_by: tuple[str, ...] = ()  # sides holding the other; a tuple: no garbage to collect
    seen: set[tuple] = field(default_factory=set)
    serial: int = 0  # tells this leg from a later one with the same Call-ID and From tag

    def __init__(
        self,
        key: str,
        call_id: str,
        from_tag: str,
        from_user: str | None,
        to_user: str | None,
        offered_at: int,
        invite_cseq: int,
        min_vias: int,
        state: State = State.CALLING,
        last_at: int = 0,
        cancel_at: int | None = None,
        challenge_status: int | None = None,
        challenge_at: int = 0,
        answered: bool = False,
        held_by: tuple[str, ...] = (),
        seen: set[tuple] | None = None,
        serial: int = 0,
    ) -> None:
        self.key = key
        self.call_id = call_id
        self.from_tag = from_tag
        self.from_user = from_user
        self.to_user = to_user
        self.offered_at = offered_at
        self.invite_cseq = invite_cseq
        self.min_vias = min_vias
        self.state = state
        self.last_at = last_at
        self.cancel_at = cancel_at
        self.challenge_status = challenge_status
        self.challenge_at = challenge_at
        self.answered = answered
        self.held_by = held_by
        self.seen = set() if seen is None else seen
        self.serial = serial


class DialogTracker:
    """Turns ``(time, SipMessage)`` into leg events. Feed messages in capture-time order."""

    def __init__(self, timeouts: Timeouts | None = None) -> None:
        self.timeouts = timeouts or Timeouts()
        self.stats = TrackerStats()
        self._legs: dict[tuple[str, str], _Leg] = {}
        self._by_call_id: dict[str, list[_Leg]] = {}
        self._warned: set[str] = set()
        self._next_sweep = 0
        # (deadline, seq, Call-ID, From tag, leg serial), lazily kept. Entries hold no object
        # references, so the garbage collector stops scanning them once they are old.
        self._timers: list[tuple[int, int, str, str, int]] = []
        self._seq = count()
        self._serials = count(1)
        t = self.timeouts
        self._limits = {
            State.CALLING: t.no_response,
            State.CHALLENGED: t.challenged,
            State.EARLY: t.ringing,
            State.CONFIRMED: t.confirmed_idle,
            State.TERMINATED: t.linger,
        }

    # -- public surface -------------------------------------------------------------------

    def feed(
        self,
        at: int,
        msg: SipMessage,
        src: tuple[str, int] | None = None,
        dst: tuple[str, int] | None = None,
        transport: str = "udp",
        correlation_id: str | None = None,
    ) -> list[LegEvent]:
        """Take one message seen at capture time ``at``; return the events it causes."""
        stats = self.stats
        stats.messages += 1
        out = self._expire(at) if at >= self._next_sweep else []
        to_tag = msg.to.params.get("tag")
        if not to_tag and msg.method == "INVITE":
            out.extend(self._initial_invite(at, msg, src, dst, transport, correlation_id))
        else:
            from_tag = msg.from_.params.get("tag")
            leg = self._find(msg.call_id, from_tag, to_tag)
            if leg is None:
                if msg.method in _DIALOG_METHODS or (
                    msg.status is not None and msg.cseq_method == "INVITE"
                ):
                    stats.orphans += 1
                else:
                    stats.not_dialog += 1
            else:
                events = self._in_leg(at, leg, msg, from_tag, to_tag)
                if events:
                    out.extend(events)
        if out:
            stats.events += len(out)
        return out

    def tick(self, now: int) -> list[LegEvent]:
        """Advance the clock to ``now`` without a message: fire timeouts, forget old legs."""
        out = self._expire(now)
        self.stats.events += len(out)
        return out

    def flush(self) -> list[LegEvent]:
        """End of input. Legs the caller had already given up on end; live calls stay open."""
        out: list[LegEvent] = []
        for leg in list(self._legs.values()):
            if leg.state is State.CHALLENGED:
                out.extend(self._apply(leg, leg.challenge_at, Signal.FAILURE, None))
        self.stats.events += len(out)
        return out

    def open_legs(self) -> int:
        """How many legs are not yet ended."""
        return sum(1 for leg in self._legs.values() if leg.state is not State.TERMINATED)

    def earliest(self) -> int | None:
        """The INVITE time of the oldest leg still remembered, ended ones that linger too."""
        return min((leg.offered_at for leg in self._legs.values()), default=None)

    # -- message handling -----------------------------------------------------------------

    def _initial_invite(self, at, msg, src, dst, transport, correlation_id) -> list[LegEvent]:
        tag = msg.from_.tag or ""
        leg = self._legs.get((msg.call_id, tag))
        if leg is not None:
            if msg.cseq > leg.invite_cseq:  # authenticated retry after 401/407
                leg.invite_cseq = msg.cseq
                leg.min_vias = msg.via_count
                return self._apply(leg, at, Signal.RETRY, msg)
            leg.min_vias = min(leg.min_vias, msg.via_count)
            self.stats.duplicates += 1
            return []
        leg = _Leg(
            key=f"{msg.call_id};{tag}",
            call_id=msg.call_id,
            from_tag=tag,
            from_user=msg.from_.user,
            to_user=msg.to.user,
            offered_at=at,
            invite_cseq=msg.cseq,
            min_vias=msg.via_count,
            last_at=at,
            serial=next(self._serials),
        )
        self._legs[(msg.call_id, tag)] = leg
        self._by_call_id.setdefault(msg.call_id, []).append(leg)
        self._schedule(leg)
        correlating = _CORRELATING
        headers = tuple([(name, value) for name, value in msg.headers if correlating[name]])
        return [
            Offered(
                at=at,
                leg=leg.key,
                call_id=leg.call_id,
                from_user=leg.from_user,
                to_user=leg.to_user,
                dialled=msg.request_uri.user if msg.request_uri else None,
                src=src,
                dst=dst,
                transport=transport,
                headers=headers,
                correlation_id=correlation_id,
            )
        ]

    def _find(self, call_id: str, from_tag: str | None, to_tag: str | None) -> _Leg | None:
        legs = self._by_call_id.get(call_id)
        if not legs:
            return None
        if len(legs) == 1 and legs[0].from_tag == from_tag:
            return legs[0]
        for leg in legs:
            if leg.from_tag == from_tag or leg.from_tag == to_tag:
                return leg
        return None

    def _in_leg(
        self, at: int, leg: _Leg, msg: SipMessage, from_tag: str | None, to_tag: str | None
    ) -> list[LegEvent]:
        status = msg.status
        fingerprint: tuple[object, ...]
        if status is not None and status >= 200 and msg.cseq_method == "INVITE":
            fingerprint = (None, status // 100, msg.cseq, "INVITE")  # one final per CSeq
        else:
            fingerprint = (msg.method, status, msg.cseq, msg.cseq_method, from_tag, to_tag)
        if fingerprint in leg.seen:
            self.stats.duplicates += 1
            return []
        side: Side = "caller" if from_tag == leg.from_tag else "callee"
        signal = self._classify(leg, msg, side)
        if (
            signal is not None
            or (status < 300 if status is not None else msg.method != "CANCEL")
            or not _inner_hop(leg, msg)
        ):
            # An inner-hop final or CANCEL is not remembered: the proxy's own copy to the
            # caller (fewer Vias, the same fingerprint) must still end the leg.
            leg.seen.add(fingerprint)
        if signal is Signal.CHALLENGE:
            leg.challenge_at = at
        if signal is None:
            if at > leg.last_at:
                leg.last_at = at
            return []
        return self._apply(leg, at, signal, msg, side)

    def _classify(self, leg: _Leg, msg: SipMessage, side: Side) -> Signal | None:
        """Reduce a message to the signal it gives its leg (None: nothing of interest)."""
        if msg.status is not None:
            if msg.cseq_method != "INVITE" or msg.cseq != leg.invite_cseq:
                return None
            code = msg.status
            if code in (180, 181, 182, 183):
                return Signal.RINGING
            if 200 <= code < 300:
                return Signal.SUCCESS
            if code in (401, 407):
                leg.challenge_status = code
                return Signal.CHALLENGE
            if code >= 300:
                if msg.via_count > leg.min_vias:
                    self.stats.inner_hop += 1
                    return None
                return Signal.FAILURE
            return None
        method = msg.method
        if method == "CANCEL":
            if msg.via_count > leg.min_vias:
                self.stats.inner_hop += 1
                return None
            return Signal.CANCEL
        if method == "BYE":
            return Signal.BYE
        if method in ("INVITE", "UPDATE"):
            try:
                direction = sdp_direction(msg.body) if msg.body else None
            except ValueError:
                direction = None
            if direction in ("sendonly", "inactive"):
                return Signal.HOLD if side not in leg.held_by else None
            if direction in ("sendrecv", "recvonly") and side in leg.held_by:
                return Signal.RESUME
            return None
        if method == "REFER":
            return Signal.REFER
        if method == "NOTIFY" and msg.content_type == "message/sipfrag":
            return Signal.NOTIFY
        return None

    def _apply(
        self, leg: _Leg, at: int, signal: Signal, msg: SipMessage | None, side: Side | None = None
    ) -> list[LegEvent]:
        step = TRANSITIONS.get((leg.state, signal))
        if at > leg.last_at:
            leg.last_at = at
        if step is None:
            return []
        before = leg.state
        leg.state, kind = step
        if leg.state is not before:
            self._schedule(leg)  # the new state's timer may be shorter than the old one's
        if kind is None:
            return []
        event = _BUILDERS[kind](self, leg, at, signal, msg, side)
        return [] if event is None else [event]

    # -- event builders (one per event kind) ----------------------------------------------

    def _base(self, leg: _Leg, at: int) -> dict:
        return {
            "at": at,
            "leg": leg.key,
            "call_id": leg.call_id,
            "from_user": leg.from_user,
            "to_user": leg.to_user,
        }

    def _alerting(self, leg, at, signal, msg, side) -> LegEvent:
        contact = msg.contact
        by = contact.user if contact else None
        return Alerting(
            at=at,
            leg=leg.key,
            call_id=leg.call_id,
            from_user=leg.from_user,
            to_user=leg.to_user,
            status=msg.status,
            by=by,
        )

    def _answered(self, leg, at, signal, msg, side) -> LegEvent:
        leg.answered = True
        contact = msg.contact
        by = (contact.user if contact else None) or msg.to.user
        return Answered(
            at=at,
            leg=leg.key,
            call_id=leg.call_id,
            from_user=leg.from_user,
            to_user=leg.to_user,
            by=by,
            to_tag=msg.to.params.get("tag"),
        )

    def _held(self, leg, at, signal, msg, side) -> LegEvent:
        if side not in leg.held_by:
            leg.held_by += (side,)
        return Held(**self._base(leg, at), by=side)

    def _resumed(self, leg, at, signal, msg, side) -> LegEvent:
        leg.held_by = tuple(s for s in leg.held_by if s != side)
        return Resumed(**self._base(leg, at), by=side)

    def _referred(self, leg, at, signal, msg, side) -> LegEvent:
        refer_to = replaces = referred_by = None
        tags: tuple[str | None, str | None] = (None, None)
        raw = msg.header("refer-to")
        try:
            if raw:
                target = parse_name_addr(raw)
                refer_to = target.user
                replaces_text = target.uri.headers.get("replaces")
                if replaces_text:
                    rep = parse_replaces(replaces_text)
                    replaces, tags = rep.call_id, (rep.to_tag, rep.from_tag)
            raw_by = msg.header("referred-by")
            if raw_by:
                referred_by = parse_name_addr(raw_by).user
        except SipParseError as exc:
            self._bad("refer", f"leg {leg.key}: unreadable Refer-To/Referred-By: {exc}")
        return Referred(
            **self._base(leg, at),
            by=side,
            refer_to=refer_to,
            referred_by=referred_by,
            replaces=replaces,
            replaces_tags=tags,
        )

    def _progress(self, leg, at, signal, msg, side) -> LegEvent | None:
        try:
            status = sipfrag_status(msg.body)
        except ValueError:
            status = None
        if status is None:
            self._bad("sipfrag", f"leg {leg.key}: NOTIFY without a readable sipfrag status")
            return None
        return TransferProgress(**self._base(leg, at), status=status)

    def _ended(
        self, leg: _Leg, at: int, signal: Signal, msg: SipMessage | None, side: Side | None
    ) -> LegEvent:
        by: Side | None
        if signal is Signal.CANCEL:
            by, reason = "caller", "cancel"
        elif signal is Signal.BYE:
            by, reason = side, "bye"
        elif signal is Signal.FAILURE:
            by = "callee"
            reason = str(msg.status if msg is not None else leg.challenge_status)
        else:
            by, reason = None, "timeout"
        return Ended(
            at=at,
            leg=leg.key,
            call_id=leg.call_id,
            from_user=leg.from_user,
            to_user=leg.to_user,
            by=by,
            reason=reason,
            answered=leg.answered,
        )

    # -- time -----------------------------------------------------------------------------

    def _expire(self, now: int) -> list[LegEvent]:
        """Fire the timeouts due by ``now`` and forget legs whose linger is over.

        Timers live in a heap that is kept lazily: an entry holds the deadline a leg had when
        it was pushed; when it comes up, the leg's real deadline (its last activity may have
        moved it) is checked, and the leg pushed again if it is not due yet.
        """
        if now < self._next_sweep:  # timeouts are judged to the second, not per message
            return []
        self._next_sweep = now + SECOND
        out: list[LegEvent] = []
        timers = self._timers
        while timers and timers[0][0] < now:
            _, _, call_id, from_tag, serial = heapq.heappop(timers)
            leg = self._legs.get((call_id, from_tag))
            if leg is None or leg.serial != serial:
                continue  # forgotten already
            limit = self._limits[leg.state]
            if now - leg.last_at <= limit:
                self._schedule(leg)
            elif leg.state is State.TERMINATED:
                self._forget(leg)
            elif leg.state is State.CHALLENGED:
                out.extend(self._apply(leg, leg.challenge_at, Signal.FAILURE, None))
            else:
                out.extend(self._apply(leg, leg.last_at + limit, Signal.TIMEOUT, None))
        return out

    def _schedule(self, leg: _Leg) -> None:
        deadline = leg.last_at + self._limits[leg.state]
        heapq.heappush(
            self._timers, (deadline, next(self._seq), leg.call_id, leg.from_tag, leg.serial)
        )

    def _forget(self, leg: _Leg) -> None:
        del self._legs[(leg.call_id, leg.from_tag)]
        siblings = self._by_call_id[leg.call_id]
        siblings.remove(leg)
        if not siblings:
            del self._by_call_id[leg.call_id]

    def _bad(self, kind: str, text: str) -> None:
        self.stats.bad_headers += 1
        if kind not in self._warned:
            self._warned.add(kind)
            log.warning("%s (further %s problems are counted, not logged)", text, kind)


def _inner_hop(leg: _Leg, msg: SipMessage) -> bool:
    """True for a failure response or CANCEL seen between a proxy and a fork (more Vias than
    the caller's INVITE had), which :meth:`DialogTracker._classify` ignores."""
    if msg.status is not None:
        if msg.status < 300 or msg.status in (401, 407) or msg.cseq_method != "INVITE":
            return False
    elif msg.method != "CANCEL":
        return False
    return msg.via_count > leg.min_vias


_Builder = Callable[..., LegEvent | None]
_BUILDERS: dict[str, _Builder] = {
    "alerting": DialogTracker._alerting,
    "answered": DialogTracker._answered,
    "held": DialogTracker._held,
    "resumed": DialogTracker._resumed,
    "referred": DialogTracker._referred,
    "transfer_progress": DialogTracker._progress,
    "ended": DialogTracker._ended,
}


# the site goes to the store process: by field values (fieldpickle)
pickle_by_fields(Timeouts)

# written out (callwatch.frozen): compiled, the generated ones would run interpreted
fast_init(_Leg, _Leg.__init__)
