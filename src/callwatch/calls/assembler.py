"""The call assembler: leg events in, customer calls out (sans-IO).

Theory of operation
-------------------
Everything that decides *which call a leg belongs to* lives in this file; what a finished
call *says* (roles, direction, ring and answer times, hang-up, transfers) is read off its
legs afterwards by :mod:`callwatch.calls.summary` and :mod:`callwatch.calls.transfers`.
There is no clock: time comes only from the events (``at``) and from :meth:`tick`.

A leg's first event (normally :class:`~callwatch.sip.events.Offered`) places the leg. The
rules are tried in this order; the first that matches wins:

==  ====================  ===================================================  ==============
#   rule                  matches when                                         joined_by
==  ====================  ===================================================  ==============
1   replaces              the INVITE carries ``Replaces`` naming the Call-ID   ``transfer``
                          of an open leg (attended transfer, new segment)
2   same Call-ID          another open leg has the same Call-ID                ``call-id``
3   correlation header    a configured header (or the HEP correlation id)      ``header:<N>``
                          has a value an open leg of a call carried, or        / ``hep``
                          (``X-CID`` style) names an open leg's Call-ID; a
                          leg rule 4 also places goes to the REFER's segment
4   REFER target          a REFER without Replaces (≤ ``refer_window_s`` ago)  ``transfer``
                          named this leg's callee, a department number whose
                          extension it calls, or the leg has ``Referred-By``
5   B2BUA heuristic       the leg's caller is a number, the leg calls a staff  ``heuristic``
                          phone, and an open leg offered ≤ ``b2bua_window_s``
                          earlier has the same caller, or dialled the
                          department number that is this leg's caller (the
                          PBX puts the ring-group number in From); or the
                          only open leg from that caller was answered by the
                          PBX (IVR) and is still up. A withheld caller
                          (``anonymous``, ``unavailable``, ``restricted``,
                          none): the legs that opened a call, withheld too,
                          dialled a number of the staff phone's department
                          (or the phone) ≤ ``b2bua_window_s`` earlier and
                          still wait, all in one call (else the leg stays
                          alone, ``ambiguous:withheld:<N>``). Outbound: the
                          leg calls an external number an open leg from our
                          side dialled ≤ ``b2bua_window_s`` earlier.
6   consultation          the caller is staff member A, the callee is ours,    ``transfer``
                          and A has a call on hold (new consultation segment)
7   new call              none of the above                                    ``first``
==  ====================  ===================================================  ==============

With Asterisk's manager stream (:meth:`CallAssembler.feed_ami`), every leg whose dialog the
manager ties to a linkedid (:mod:`callwatch.calls.ami_links`) also holds the correlation key
``ami:<linkedid>``, read by rule 3 like a header (``joined_by`` ``ami``): the trunk leg and
its phone legs join exactly, also for a withheld number. The manager ties a dialog by the
dialplan's ``SipCallId`` user event, or by the channel name HEP gives it (``uuid_type =
channel``, :class:`~callwatch.sip.ami.HepChannel`); a leg's linkedid header (the PBX's
``linkedid_headers``) counts as the same key once the manager stream is read, and a heuristic
join the manager confirms (the call's first leg on the same linkedid) reads ``ami``. A tie
that comes after its leg was placed gives the leg the key then, and when another open call
already holds it, the call that started later is merged into the earlier one. Asterisk's
``BlindTransfer`` event on a leg with no REFER (a feature-code transfer, ``#1``) counts as a
REFER from that leg's staff side at the event's time, so rule 4 puts the target's leg into
its transfer segment. Its
``AttendedTransfer`` (a REFER with Replaces, or the feature code ``*2``) is kept on the
customer's call, and a target leg still in another open call is merged into it as a
consultation; :mod:`callwatch.calls.transfers` times the transfer from it. app_queue's
``AgentCalled`` / ``AgentConnect`` mark the member's leg (``queue_member``, also when its leg
is placed after the event): a queue member's leg is a staff leg whatever the site file lists,
so its ring and answer are the staff's (``calls.summary``).

Rules 3 and 5 put the leg into the segment of the leg they matched, so the PBX's twin of a
consultation leg is a consultation leg too. A REFER with Replaces naming a leg of another
open call merges that call into this one as a consultation segment.

A call is finished when all its legs have ended and ``linger_s`` has passed since the last
end with no new leg joining (so a transfer leg INVITEd just after a BYE still joins). A call
with no event for ``stale_s`` is closed as cut short (``complete=False``, ``incomplete_reason``
``stale``); :meth:`~CallAssembler.flush` closes the calls still up as ``capture_ended``.
Events for a leg of a call already handed out are counted in
:attr:`CallAssembler.late_events` and dropped.

Calls come back from :meth:`~CallAssembler.feed`, :meth:`~CallAssembler.tick` and
:meth:`~CallAssembler.flush`; each returned list is in start order (``started_at``, then
arrival). A call's ``id`` is the Call-ID of the leg that opened it.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Iterable

from callwatch.calls._records import (
    CallRecord,
    LegRecord,
    Referral,
    Segment,
    apply_event,
    callee_users,
    is_staff_leg,
    side_user,
    user_of,
)
from callwatch.calls.ami_links import AmiLinks, AttendedTransfer, BlindTransfer, QueueMember, Tie
from callwatch.calls.directory import Directory, normalize_number
from callwatch.calls.errors import AssemblerError
from callwatch.calls.model import Call, IncompleteReason, Leg, TransferStyle
from callwatch.calls.pbx_traits import PbxTraits
from callwatch.calls.summary import summarise
from callwatch.sip.ami import AmiEvent, HepChannel
from callwatch.sip.events import Ended, Held, LegEvent, Offered, Referred, Resumed

_US = 1_000_000
_CLOSED_MEMORY_US = 600 * _US
"""How long the leg ids of handed-out calls are remembered to drop their late events."""

_Joined = tuple[CallRecord, Segment, str]
"""Where a new leg goes: its call, its segment, and the rule that placed it."""

_AMI = "ami"
"""The correlation key name of a linkedid the manager stream tied a leg to."""


class CallAssembler:
    """Groups leg events into customer calls. See the module docstring for the rules.

    ``correlation_headers`` are header names (any case) whose equal values tie B2BUA legs
    together, e.g. ``("X-CID", "X-Asterisk-Linkedid")``; the call's ``correlation`` then
    reads ``header:<name as given>``. ``pbx`` describes the PBX kind (its own header names
    are added): only its ``callid_headers`` may then name another leg's Call-ID (``X-CID``);
    without it, any correlation header may.
    """

    _now: int
    _next_scan: int

    def __init__(
        self,
        directory: Directory,
        correlation_headers: Iterable[str] = (),
        *,
        pbx: PbxTraits | None = None,
        b2bua_window_s: float = 5.0,
        refer_window_s: float = 10.0,
        linger_s: float = 10.0,
        stale_s: float = 4 * 3600.0,
    ) -> None:
        self._directory = directory
        names = [*correlation_headers, *(pbx.headers if pbx is not None else ())]
        self._headers: dict[str, str] = {}
        for name in names:
            self._headers.setdefault(name.lower(), name)
        # Headers that may name an open leg's Call-ID instead of sharing a value (X-CID).
        self._callid_headers = (
            frozenset(self._headers[h.lower()] for h in pbx.callid_headers)
            if pbx is not None
            else frozenset(self._headers.values())
        )
        self._feature_codes = pbx is None or "feature_code" in pbx.transfer_styles
        # Headers whose value is the PBX's own call id (Asterisk's linkedid): with the manager
        # stream, the same key as a linkedid the manager ties a dialog to.
        self._linkedid_headers = frozenset(h.lower() for h in pbx.linkedid_headers) if pbx else ()
        self._b2bua_us = round(b2bua_window_s * _US)
        self._refer_us = round(refer_window_s * _US)
        self._linger_us = round(linger_s * _US)
        self._stale_us = round(stale_s * _US)
        self._scan_every_us = max(_US, min(self._stale_us // 8, 60 * _US))
        self.late_events = 0
        self.withheld_ambiguous = 0
        """Legs of withheld callers left as their own call: several calls could be theirs."""
        self._unjoined = ""
        self.ami = AmiLinks()
        self._reset()

    # -- public surface -------------------------------------------------------------------

    def feed(self, event: LegEvent) -> list[Call]:
        """Take one leg event; return the calls that finished by its time."""
        if not isinstance(event, LegEvent):
            raise AssemblerError(f"expected a leg event, got {type(event).__name__}")
        rec = self._legs.get(event.leg)
        if rec is None:
            if event.leg in self._closed:
                self.late_events += 1
                return self.tick(event.at)
            rec = self._place(event)
        leg = rec.leg
        offered_at = leg.offered_at
        answered = leg.answered_at is not None
        apply_event(leg, event)
        if leg.offered_at != offered_at:  # an INVITE older than the leg's first event
            self._reorder(rec, offered_at)
        if not answered and leg.answered_at is not None:
            self._note_answer(rec)
        call = rec.call
        if event.at > call.last_at:
            call.last_at = event.at
        if isinstance(event, Ended):
            self._forget_holds(rec)
            self._unindex_parties(rec)  # rules 5 and 6 only look for legs still up
            if call.all_ended():
                heapq.heappush(self._due, (call.last_end() + self._linger_us, call.seq))
        elif isinstance(event, (Held, Resumed)):  # a tuple: ``Held | Resumed`` is built per call
            self._note_hold(rec, event)
        elif isinstance(event, Referred):
            self._note_refer(rec, event)
        return self.tick(event.at)

    def feed_ami(self, event: AmiEvent | HepChannel) -> list[Call]:
        """Take one manager event (or a channel name HEP gave a dialog, read only once the
        manager stream is); return the calls that finished by its time."""
        if isinstance(event, HepChannel):
            if self.ami.active:
                for tie in self.ami.hep_channel(event):
                    self._ami_tie(tie)
            return self.tick(event.ts)
        for fact in self.ami.feed(event):
            if isinstance(fact, Tie):
                self._ami_tie(fact)
            elif isinstance(fact, QueueMember):
                self._ami_queue_member(fact)
            elif isinstance(fact, AttendedTransfer):
                self._ami_attended_transfer(fact)
            else:
                self._ami_blind_transfer(fact)
        return self.tick(event.ts)

    def tick(self, now: int) -> list[Call]:
        """Advance the capture clock to ``now``; return the calls finished by then."""
        if now > self._now:
            self._now = now
        due = self._due
        if (not due or due[0][0] > self._now) and self._now < self._next_scan:
            return []  # nothing due: the usual case, answered without a scan
        done: list[CallRecord] = []
        while self._due and self._due[0][0] <= self._now:
            _, seq = heapq.heappop(self._due)
            call = self._calls.get(seq)
            if call and call.all_ended() and call.last_end() + self._linger_us <= self._now:
                done.append(call)
        if self._now >= self._next_scan:
            self._next_scan = self._now + self._scan_every_us
            done += [
                c
                for c in self._calls.values()
                if c.last_at + self._stale_us <= self._now and c not in done
            ]
            while self._closed_order and self._closed_order[0][0] < self._now - _CLOSED_MEMORY_US:
                _, leg_id = self._closed_order.popleft()
                self._closed.discard(leg_id)
        return self._close(done)

    def flush(self, now: int | None = None) -> list[Call]:
        """End of input: return every call still open (those with legs up as incomplete)."""
        calls = self.tick(now) if now is not None else []
        calls += self._close(list(self._calls.values()))
        self._reset()
        calls.sort(key=lambda c: c.started_at)
        return calls

    @property
    def open_calls(self) -> int:
        """How many calls are being assembled."""
        return len(self._calls)

    def earliest(self) -> int | None:
        """The offer time of the oldest leg of any call still being assembled."""
        return min(
            (r.leg.offered_at for call in self._calls.values() for r in call.legs), default=None
        )

    # -- placing a new leg ----------------------------------------------------------------

    def _reset(self) -> None:
        self._now = 0
        self._next_scan = 0
        self._seq = 0
        self._calls: dict[int, CallRecord] = {}
        self._legs: dict[str, LegRecord] = {}
        # Indexes of the legs of open calls: key → {id(record): record}, so a closing call
        # unindexes its legs in O(1) however many other legs share the key (a busy ring
        # group). By caller and by dialled number only legs still up are kept, in offer-time
        # order (see _Timeline): the B2BUA and IVR rules look for nothing else, and read only
        # the legs offered within their window, however many legs a number has open (a
        # scanner's flood of INVITEs to one number). The outbound rule reads only legs from
        # our side; the IVR rule only answered legs.
        self._order = 0
        self._by_call_id: dict[str, dict[int, LegRecord]] = {}
        self._by_key: dict[tuple[str, str], LegRecord] = {}
        self._by_caller = _Timeline()
        self._by_dialled = _Timeline()
        self._ours_by_dialled = _Timeline()
        self._answered_by_caller: dict[str, dict[int, LegRecord]] = {}
        self._referrals: list[Referral] = []
        self._holds: dict[str, tuple[LegRecord, int]] = {}
        self._due: list[tuple[int, int]] = []
        self._closed: set[str] = set()
        self._closed_order: deque[tuple[int, str]] = deque()

    def _place(self, event: LegEvent) -> LegRecord:
        offered = event if isinstance(event, Offered) else None
        ami = self.ami.active  # a property: read once
        keys = self._keys(offered, ami) if offered else []
        self._unjoined = ""
        joined = (
            self._by_replaces(offered)
            or self._by_same_call_id(event)
            or self._by_header_or_refer(event, offered, keys)
            or self._by_heuristic(event)
            or self._by_consultation(event)
        )
        leg = Leg(
            leg=event.leg,
            call_id=event.call_id,
            from_user=event.from_user,
            to_user=event.to_user,
            dialled=None,
            offered_at=event.at,
        )
        if joined is None:
            self._seq += 1
            call = CallRecord(seq=self._seq, last_at=event.at)
            self._calls[call.seq] = call
            rec = LegRecord(leg, call, Segment("primary"), self._unjoined or "first")
        else:
            call, segment, how = joined
            rec = LegRecord(leg, call, segment, how)
        rec.truncated = offered is None
        if ami:
            rec.queue_member = self.ami.queue_member_of_call_id(event.call_id)
            if rec.queue_member is None and offered is not None and offered.correlation_id:
                rec.queue_member = self.ami.queue_member_of_channel(offered.correlation_id)
        self._order += 1
        rec.order = self._order
        rec.call.legs.append(rec)
        self._index(rec, keys, offered)
        return rec

    def _keys(self, offered: Offered, ami: bool) -> list[tuple[str, str]]:
        keys = [
            (self._headers[name], value.strip())
            for name, value in offered.headers
            if name in self._headers and value.strip()
        ]
        if offered.correlation_id:
            keys.append(("hep", offered.correlation_id))
        if ami:
            linkedid = self.ami.linkedid_of_call_id(offered.call_id)
            if linkedid is None and offered.correlation_id:
                linkedid = self.ami.linkedid_of_channel(offered.correlation_id)
            if linkedid is None and self._linkedid_headers:
                linkedid = next(
                    (v.strip() for n, v in offered.headers if n in self._linkedid_headers), None
                )
            if linkedid:
                keys.append((_AMI, linkedid))
        return keys

    def _index(self, rec: LegRecord, keys: list[tuple[str, str]], offered: Offered | None) -> None:
        leg = rec.leg
        self._legs[leg.leg] = rec
        self._by_call_id.setdefault(leg.call_id, {})[id(rec)] = rec
        for key in keys:
            if key not in self._by_key:
                self._by_key[key] = rec
                rec.keys += (key,)
        caller = normalize_number(leg.from_user) or None
        if caller:
            self._by_caller.add(caller, rec)
        dialled = (normalize_number(offered.dialled or leg.to_user) or None) if offered else None
        if dialled:
            self._by_dialled.add(dialled, rec)
            if self._directory.is_ours(leg.from_user):
                self._ours_by_dialled.add(dialled, rec)
                rec.ours_dialled = True
        rec.caller_key = caller
        rec.dialled_key = dialled
        rec.parties_indexed = True

    def _by_replaces(self, offered: Offered | None) -> _Joined | None:
        if offered is None:
            return None
        value = next((v for name, v in offered.headers if name == "replaces"), None)
        replaced = value.split(";", 1)[0].strip() if value else ""
        legs = self._by_call_id.get(replaced)
        if not legs:
            return None
        first = next(iter(legs.values()))
        return first.call, Segment("transfer", replaces=replaced), "transfer"

    def _by_same_call_id(self, event: LegEvent) -> _Joined | None:
        legs = self._by_call_id.get(event.call_id)
        if not legs:
            return None
        first = next(iter(legs.values()))
        return first.call, first.segment, "call-id"

    def _by_header(self, keys: list[tuple[str, str]]) -> _Joined | None:
        for key in keys:
            anchor = self._by_key.get(key)
            if anchor is None and key[0] in self._callid_headers:
                # X-CID style: the header names the Call-ID of the leg this one continues.
                legs = self._by_call_id.get(key[1])
                anchor = next(iter(legs.values())) if legs else None
            if anchor is not None:
                how = key[0] if key[0] in ("hep", _AMI) else f"header:{key[0]}"
                return anchor.call, anchor.segment, how
        return None

    def _by_header_or_refer(
        self, event: LegEvent, offered: Offered | None, keys: list[tuple[str, str]]
    ) -> _Joined | None:
        """Rules 3 and 4. A leg a header ties to a call that a REFER of that call names (the
        PBX marks the blind-transfer target's INVITE with the linkedid too) goes into the
        REFER's transfer segment, keeping the header as how it joined."""
        joined = self._by_header(keys)
        if joined is None:
            return self._by_refer_target(event, offered)
        if self._referrals:
            refer = self._by_refer_target(event, offered)
            if refer is not None and refer[0] is joined[0]:
                return refer[0], refer[1], joined[2]
        return joined

    def _by_refer_target(self, event: LegEvent, offered: Offered | None) -> _Joined | None:
        self._referrals = [r for r in self._referrals if event.at - r.event.at <= self._refer_us]
        if not self._referrals:
            return None
        callees = [u for u in (event.to_user, offered.dialled if offered else None) if u]
        callees = [n for n in (normalize_number(u) for u in callees) if n]
        referred_by = offered is not None and any(n == "referred-by" for n, _ in offered.headers)
        caller = normalize_number(event.from_user)
        for ref in reversed(self._referrals):
            if ref.event.at > event.at or not self._targets(ref, callees, referred_by):
                continue
            if not referred_by and caller not in _parties(ref.leg.call):
                continue
            if ref.segment is None:
                ref.segment = Segment("transfer", referral=ref)
            return ref.leg.call, ref.segment, "transfer"
        return None

    def _targets(self, ref: Referral, callees: list[str], referred_by: bool) -> bool:
        if ref.target in callees:
            return True
        group = self._directory.department_of_number(ref.target)
        if group is not None and any(
            self._directory.department_of_extension(u) == group for u in callees
        ):
            return True
        return referred_by and any(self._directory.is_staff(u) for u in callees)

    def _by_heuristic(self, event: LegEvent) -> _Joined | None:
        directory = self._directory
        caller = normalize_number(event.from_user)
        callee = normalize_number(event.to_user)
        dialled = normalize_number(event.dialled) if isinstance(event, Offered) else None
        at = event.at
        earliest = at - self._b2bua_us
        call_id = event.call_id
        if is_withheld(caller):
            return self._by_withheld(callee, dialled, at, earliest, call_id)
        if caller is None or not (_is_number(caller) or directory.is_staff(caller)):
            return None  # a name that is not a phone ties nothing together
        if directory.is_staff(callee) or directory.is_staff(dialled):
            # The latest leg offered within the window by the same caller (or, when the caller
            # is a department number, dialling it), still up and not answered: a B2BUA offers
            # its phone legs while the trunk leg still rings; a leg already answered by staff
            # is a conversation, not a leg waiting for a phone. Ties go to the leg placed first.
            def waiting(r: LegRecord) -> bool:
                return r.leg.answered_at is None and _up_elsewhere(r, call_id)

            near = self._by_caller.latest(caller, at, earliest, waiting)
            if directory.department_of_number(caller) is not None:
                other = self._by_dialled.latest(caller, at, earliest, waiting)
                if other is not None and (near is None or other[0] > near[0]):
                    near = other
            if near is not None:
                anchor = near[2]
                return anchor.call, anchor.segment, "heuristic"
            answered = self._answered_by_caller.get(caller)
            ivr = [r for r in answered.values() if self._in_ivr(r)] if answered else []
            if ivr and all(r.call is ivr[0].call for r in ivr):
                anchor = max(ivr, key=_placed)  # the one placed last, as a scan in order finds
                return anchor.call, anchor.segment, "heuristic"
            return None
        target = dialled or callee
        if target is not None and _is_number(target) and not directory.is_ours(target):

            def up(r: LegRecord) -> bool:
                return _up_elsewhere(r, call_id)

            found = self._ours_by_dialled.latest(target, at, earliest, up)
            if found is not None:
                anchor = found[2]
                return anchor.call, anchor.segment, "heuristic"
        return None

    def _by_withheld(
        self, callee: str | None, dialled: str | None, at: int, earliest: int, call_id: str
    ) -> _Joined | None:
        """Rule 5 for a withheld caller (``anonymous``, ``unavailable``, ``restricted``, none):
        the leg to staff phone S joins the one call whose opening leg, also withheld, dialled
        a number of S's department (or S itself) within the window and still waits for an
        answer. With legs of two or more such calls waiting, the leg stays its own call and
        its ``joined_by`` says so (``ambiguous:withheld:<N>``)."""
        directory = self._directory
        staff = [u for u in (callee, dialled) if u is not None and directory.is_staff(u)]
        if not staff:
            return None
        keys = list(dict.fromkeys(staff))
        department = directory.department_of_extension(staff[0])
        if department is not None:
            keys += directory.department(department).numbers

        def waiting(r: LegRecord) -> bool:
            return (
                r.joined_by == "first"
                and r.leg.answered_at is None
                and is_withheld(normalize_number(r.leg.from_user))
                and _up_elsewhere(r, call_id)
            )

        found: dict[int, _Entry] = {}
        for key in keys:
            for entry in self._by_dialled.within(key, at, earliest, waiting):
                seen = found.get(entry[2].call.seq)
                if seen is None or entry[:2] > seen[:2]:
                    found[entry[2].call.seq] = entry
        if len(found) == 1:
            anchor = next(iter(found.values()))[2]
            return anchor.call, anchor.segment, "heuristic"
        if found:
            self.withheld_ambiguous += 1
            self._unjoined = f"ambiguous:withheld:{len(found)}"
        return None

    def _reorder(self, rec: LegRecord, offered_at: int) -> None:
        """Move a leg whose offer time changed from ``offered_at`` to its new place in the
        indexes that hold it."""
        if not rec.parties_indexed:
            return
        caller = rec.caller_key
        dialled = rec.dialled_key
        for timeline, key in (
            (self._by_caller, caller),
            (self._by_dialled, dialled),
            (self._ours_by_dialled, dialled if rec.ours_dialled else None),
        ):
            if key and timeline.remove(key, rec, offered_at):
                timeline.add(key, rec)

    def _note_answer(self, rec: LegRecord) -> None:
        """Index a leg just answered under its caller, if it is indexed there (still up)."""
        caller = rec.caller_key
        if caller and rec.parties_indexed:
            self._answered_by_caller.setdefault(caller, {})[id(rec)] = rec

    def _in_ivr(self, rec: LegRecord) -> bool:
        """An open leg the PBX itself answered (IVR, queue announcement)."""
        leg = rec.leg
        return (
            leg.ended_at is None
            and leg.answered_at is not None
            and not any(self._directory.is_staff(u) for u in callee_users(leg))
        )

    def _by_consultation(self, event: LegEvent) -> _Joined | None:
        holder = normalize_number(event.from_user)
        if not holder or holder not in self._holds:
            return None
        callee = event.dialled if isinstance(event, Offered) else None
        if not self._directory.is_ours(callee or event.to_user):
            return None
        held, at = self._holds[holder]
        if at > event.at:
            return None
        return held.call, Segment("consultation", holder=holder), "transfer"

    # -- holds and REFERs -----------------------------------------------------------------

    def _note_hold(self, rec: LegRecord, event: Held | Resumed) -> None:
        user = side_user(rec.leg, event.by, self._directory)
        if not user or not self._directory.is_staff(user):
            return
        if isinstance(event, Held):
            self._holds[user] = (rec, event.at)
        elif user in self._holds and self._holds[user][0] is rec:
            del self._holds[user]

    def _forget_holds(self, rec: LegRecord) -> None:
        if not self._holds:
            return
        for user in [u for u, (r, _) in self._holds.items() if r is rec]:
            del self._holds[user]

    def _note_refer(self, rec: LegRecord, event: Referred, style: TransferStyle = "refer") -> None:
        directory = self._directory
        user = side_user(rec.leg, event.by, directory)
        if not directory.is_staff(user):
            user = user_of(event.referred_by) or user
        ref = Referral(rec, event, referrer=user, target=user_of(event.refer_to), style=style)
        rec.call.referrals.append(ref)
        if event.replaces is None:
            self._referrals.append(ref)
            return
        named = self._by_call_id.get(event.replaces)
        other = next(iter(named.values())).call if named else None
        if other is not None and other is not rec.call:
            self._merge(other, rec.call, holder=user)

    def _merge(self, other: CallRecord, into: CallRecord, holder: str | None) -> None:
        """Move an open call (a consultation seen as its own call) into ``into``."""
        segment = Segment("consultation", holder=holder)
        for leg in other.legs:
            leg.call = into
            leg.segment = segment
            if leg.joined_by == "first":
                leg.joined_by = "transfer"
            into.legs.append(leg)
        into.referrals += other.referrals
        into.ami_attended += other.ami_attended
        into.last_at = max(into.last_at, other.last_at)
        del self._calls[other.seq]

    # -- the manager stream (AMI) --------------------------------------------------------

    def _ami_tie(self, tie: Tie) -> None:
        """Give the legs of a dialog (or of a HEP channel id) the key of their linkedid; a
        leg already in another call than the key's holder brings its call into that one."""
        if tie.call_id is not None:
            found = self._by_call_id.get(tie.call_id)
            legs = list(found.values()) if found else []
        else:
            anchor = self._by_key.get(("hep", tie.channel))
            legs = [anchor] if anchor is not None else []
        key = (_AMI, tie.linkedid)
        for rec in legs:
            held = self._by_key.get(key)
            if held is None:
                self._by_key[key] = rec
                rec.keys += (key,)
            elif held.call is not rec.call:
                first, later = sorted((held.call, rec.call), key=_opened)
                self._merge_linked(later, first)
            elif held is not rec and rec.call.legs[0] in (held, rec):
                # The manager puts the call's first leg and a leg the heuristic joined to it
                # on one linkedid: the join is exact.
                other = held if rec is rec.call.legs[0] else rec
                if other.joined_by == "heuristic":
                    other.joined_by = _AMI

    def _merge_linked(self, other: CallRecord, into: CallRecord) -> None:
        """Move the open call ``other`` into ``into``: the manager says they are one call.
        Its primary legs join ``into``'s primary segment; other segments keep theirs."""
        primary = into.legs[0].segment
        for rec in other.legs:
            rec.call = into
            if rec.segment.kind == "primary":
                rec.segment = primary
            if rec.joined_by == "first":
                rec.joined_by = _AMI
            into.legs.append(rec)
        into.referrals += other.referrals
        into.ami_attended += other.ami_attended
        into.last_at = max(into.last_at, other.last_at)
        del self._calls[other.seq]
        if into.all_ended():
            heapq.heappush(self._due, (into.last_end() + self._linger_us, into.seq))

    def _ami_queue_member(self, fact: QueueMember) -> None:
        """app_queue rang or connected a member: its leg (placed already) is a staff leg."""
        if fact.call_id is not None:
            found = self._by_call_id.get(fact.call_id)
            legs = list(found.values()) if found else []
        else:
            anchor = self._by_key.get(("hep", fact.channel))
            legs = [anchor] if anchor is not None else []
        for rec in legs:
            rec.queue_member = fact.member

    def _ami_attended_transfer(self, fact: AttendedTransfer) -> None:
        """Asterisk's ``AttendedTransfer``: kept on the customer's call (found by the
        customer's dialog, else the transferer's); the target's leg, when still in another
        open call (a consultation the wire showed no Replaces for), is merged into it."""
        call: CallRecord | None = None
        for call_id in (fact.transferee_call_id, fact.transferer_call_id):
            found = self._by_call_id.get(call_id or "")
            if found:
                call = next(iter(found.values())).call
                break
        if call is None:
            return
        call.ami_attended += (fact,)
        for call_id in (fact.target_call_id, fact.second_call_id):
            found = self._by_call_id.get(call_id or "")
            if not found:
                continue
            rec = next(iter(found.values()))
            if rec.call is not call:
                holder = side_user(rec.leg, "caller", self._directory)
                self._merge(rec.call, call, holder=holder)

    def _ami_blind_transfer(self, fact: BlindTransfer) -> None:
        """Asterisk's ``BlindTransfer`` on a leg that sent no REFER for it (a feature code):
        a REFER from that leg's staff side to the extension, at the event's time."""
        found = self._by_call_id.get(fact.transferer_call_id or "")
        if not found:
            return
        rec = next(iter(found.values()))
        for ref in rec.call.referrals:
            ago = fact.at - ref.event.at
            if ref.leg is rec and ref.event.replaces is None and 0 <= ago <= self._refer_us:
                return  # the REFER Asterisk carried out: it already times the transfer
        leg = rec.leg
        event = Referred(
            at=fact.at,
            leg=leg.leg,
            call_id=leg.call_id,
            from_user=leg.from_user,
            to_user=leg.to_user,
            by="callee" if is_staff_leg(leg, self._directory) else "caller",
            refer_to=fact.extension,
        )
        self._note_refer(rec, event, style="feature_code")

    # -- handing calls out ----------------------------------------------------------------

    def _close(self, records: list[CallRecord]) -> list[Call]:
        calls: list[tuple[int, int, Call]] = []
        for record in records:
            if self._calls.pop(record.seq, None) is None:
                continue
            self._unindex(record)
            quiet = record.last_at + self._stale_us <= self._now
            cut: IncompleteReason = "stale" if quiet else "capture_ended"
            call = summarise(record, self._directory, cut, feature_codes=self._feature_codes)
            calls.append((call.started_at, record.seq, call))
            _release(record)
        calls.sort(key=lambda item: item[:2])
        return [call for _, _, call in calls]

    def _unindex(self, record: CallRecord) -> None:
        gone = {id(r) for r in record.legs}
        for rec in record.legs:
            leg = rec.leg
            self._legs.pop(leg.leg, None)
            self._closed.add(leg.leg)
            self._closed_order.append((self._now, leg.leg))
            _drop(self._by_call_id, leg.call_id, rec)
            self._unindex_parties(rec)
            for held_key in rec.keys:
                self._by_key.pop(held_key, None)
            self._forget_holds(rec)
        self._referrals = [r for r in self._referrals if id(r.leg) not in gone]

    def _unindex_parties(self, rec: LegRecord) -> None:
        """Take a leg out of the caller and dialled indexes (it ended, or its call closed),
        under the keys it was put there with; once only."""
        if not rec.parties_indexed:
            return
        rec.parties_indexed = False
        offered_at = rec.leg.offered_at
        caller = rec.caller_key
        if caller:
            self._by_caller.remove(caller, rec, offered_at)
            if caller in self._answered_by_caller:
                _drop(self._answered_by_caller, caller, rec)
        dialled = rec.dialled_key
        if dialled:
            self._by_dialled.remove(dialled, rec, offered_at)
            if rec.ours_dialled:
                self._ours_by_dialled.remove(dialled, rec, offered_at)


_Entry = tuple[int, int, LegRecord]
"""A leg in a :class:`_Timeline`: (offer time, placement number, record)."""


class _Timeline:
    """Open legs under each key (a caller's or a dialled number), kept sorted by offer time,
    then placement: the B2BUA rule reads a number's latest legs, newest first, and stops at
    the edge of its window, so its cost does not grow with how many legs the number has."""

    __slots__ = ("_legs",)

    def __init__(self) -> None:
        self._legs: dict[str, list[_Entry]] = {}

    def add(self, key: str, rec: LegRecord) -> None:
        """Index ``rec`` under ``key`` at its current offer time."""
        legs = self._legs.get(key)
        if legs is None:
            self._legs[key] = [(rec.leg.offered_at, rec.order, rec)]
        else:
            insort(legs, (rec.leg.offered_at, rec.order, rec))

    def remove(self, key: str, rec: LegRecord, offered_at: int) -> bool:
        """Take ``rec``, indexed at ``offered_at``, out from under ``key``; False when it
        was not there."""
        legs = self._legs.get(key)
        if legs is None:
            return False
        if len(legs) == 1:  # the usual case: one open leg from or to a number
            if legs[0][2] is not rec:
                return False
            del self._legs[key]
            return True
        i = bisect_left(legs, (offered_at, rec.order))
        if i == len(legs) or legs[i][2] is not rec:
            return False
        del legs[i]
        if not legs:
            del self._legs[key]
        return True

    def holds(self, key: str, rec: LegRecord) -> bool:
        """True when ``rec`` is indexed under ``key``."""
        legs = self._legs.get(key)
        if legs is None:
            return False
        i = bisect_left(legs, (rec.leg.offered_at, rec.order))
        return i < len(legs) and legs[i][2] is rec

    def latest(
        self, key: str, at: int, earliest: int, accept: Callable[[LegRecord], bool]
    ) -> _Entry | None:
        """The accepted leg under ``key`` offered latest in ``[earliest, at]``; of several
        offered at that time, the one placed first. None when there is none."""
        legs = self._legs.get(key)
        if not legs:
            return None
        found: _Entry | None = None
        i = bisect_left(legs, (at + 1,))
        while i:
            i -= 1
            entry = legs[i]
            offered = entry[0]
            if offered < earliest or (found is not None and offered < found[0]):
                break
            if accept(entry[2]):
                found = entry
        return found

    def within(
        self, key: str, at: int, earliest: int, accept: Callable[[LegRecord], bool]
    ) -> list[_Entry]:
        """Every accepted leg under ``key`` offered in ``[earliest, at]``, newest first."""
        legs = self._legs.get(key)
        if not legs:
            return []
        out: list[_Entry] = []
        i = bisect_left(legs, (at + 1,))
        while i:
            i -= 1
            entry = legs[i]
            if entry[0] < earliest:
                break
            if accept(entry[2]):
                out.append(entry)
        return out


def _up_elsewhere(rec: LegRecord, call_id: str) -> bool:
    """The leg is still up and is not on ``call_id``."""
    leg = rec.leg
    return leg.ended_at is None and leg.call_id != call_id


def _placed(rec: LegRecord) -> int:
    return rec.order


def _opened(call: CallRecord) -> tuple[int, int]:
    """When a call's first leg was offered, then its number: older calls sort first."""
    return (call.legs[0].leg.offered_at if call.legs else 0, call.seq)


def _release(record: CallRecord) -> None:
    """Break the reference cycles of a handed-out call's working records (call ↔ legs,
    referral ↔ segment), so they are freed at once instead of by the cyclic garbage collector,
    whose passes over thousands of finished calls stall a busy live service."""
    for ref in record.referrals:
        ref.segment = None
    for rec in record.legs:
        rec.segment.referral = None
    record.referrals.clear()
    record.legs.clear()


def _drop(index: dict[str, dict[int, LegRecord]], key: str | None, rec: LegRecord) -> None:
    """Remove ``rec`` from ``index[key]``, and the key once no leg is left under it."""
    if key is None:
        return
    legs = index.get(key)
    if legs is not None:
        legs.pop(id(rec), None)
        if not legs:
            del index[key]


WITHHELD = frozenset({"", "anonymous", "unavailable", "restricted"})
"""Caller user parts (compared without case) that stand for a withheld number."""


def is_withheld(user: str | None) -> bool:
    """True for a caller who withheld the number: no user part, or ``anonymous``,
    ``unavailable``, ``restricted`` (any case)."""
    return user is None or user.lower() in WITHHELD


def _is_number(user: str | None) -> bool:
    """True for a (normalised) phone number: digits, perhaps after a ``+``."""
    return user is not None and user.lstrip("+").isdigit()


def _parties(call: CallRecord) -> set[str | None]:
    """Every user part on the legs of ``call`` (callers, callees, dialled numbers)."""
    users: set[str | None] = set()
    for rec in call.legs:
        leg = rec.leg
        users.update(normalize_number(u) for u in (leg.from_user, leg.to_user, leg.dialled))
    return users
