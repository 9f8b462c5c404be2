"""The callback book: missed callers waiting to be called back.

Sans-IO and stateful. Fed finished customer calls (:meth:`CallbackBook.feed_call`) and the
capture clock (:meth:`CallbackBook.tick`); it never reads the wall clock.

Theory of operation:

- A *missed* inbound call (``Call.missed``) from a callable number (digits, not anonymous, not a
  staff extension) opens a callback. ``opened_at`` is the end of the missed call (the caller's
  CANCEL or the final failure response); ``due_at`` is ``opened_at`` plus the deadline of the
  department's charter, on the clock or on office hours. No fixed deadline (Dangjin, Yangju):
  ``due_at`` is None until a time promised to the caller is recorded (:meth:`record_request`).
- An outbound call from the same department to that number, begun after the callback opened,
  closes it: ``called_back_at`` is its INVITE time, ``by`` the calling extension; ``kept`` when
  ``called_back_at <= due_at`` (or there is no deadline), else ``late``. Whether an unanswered
  attempt closes it is the charter's ``keeps`` setting; an attempt that does not is counted.
- ``tick(now)`` turns open callbacks whose ``due_at`` has passed into ``missed``; a missed
  callback closed later becomes ``late`` (or ``kept``, if the call back began in time).
- Incomplete calls (cut off by the end of a capture) neither open nor close callbacks.

Statuses: ``open`` → ``kept`` | ``late`` | ``missed``; ``missed`` → ``late`` | ``kept``.
Callbacks handed out are immutable snapshots.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass, replace
from typing import Literal

from callwatch.calls import directory
from callwatch.calls.model import Call
from callwatch.charter.errors import CallbackError
from callwatch.charter.hours import BusinessHours
from callwatch.charter.profile import Profile
from callwatch.fieldpickle import pickle_by_fields

CallbackStatus = Literal["open", "kept", "late", "missed"]

_MIN_DIGITS = 3
_MIN_SUFFIX_DIGITS = 7
_MAX_PREFIX_DIGITS = 4


@dataclass(frozen=True, slots=True)
class Callback:
    """One missed call's callback promise and how it was kept."""

    call: str
    number: str
    department: str | None
    charter: str
    opened_at: int
    due_at: int | None
    called_back_at: int | None = None
    by: str | None = None
    status: CallbackStatus = "open"
    attempts: int = 0
    requested: bool = False
    """True when ``due_at`` is a time promised to the caller (see ``record_request``)."""

    @property
    def delay_seconds(self) -> float | None:
        """Seconds from the end of the missed call to the INVITE of the call back."""
        if self.called_back_at is None:
            return None
        return round((self.called_back_at - self.opened_at) / 1_000_000, 6)

    @property
    def allowed_seconds(self) -> float | None:
        """Seconds from ``opened_at`` to ``due_at`` (office time is included as it elapsed)."""
        if self.due_at is None:
            return None
        return round((self.due_at - self.opened_at) / 1_000_000, 6)


pickle_by_fields(Callback)  # the service hands callbacks to its store process


def normalize_number(number: str | None) -> str | None:
    """Digits of a dialable number (``+82`` becomes a leading ``0``); None when not dialable."""
    text = directory.normalize_number(number)  # separators and +82 as the directory reads them
    if text is None:
        return None
    if text.startswith("+"):
        text = "00" + text[1:]
    if len(text) < _MIN_DIGITS or not text.isdigit():
        return None
    return text


def same_number(a: str, b: str) -> bool:
    """Whether two normalized numbers reach the same line: equal, or one is the other with a
    short prefix (a trunk access digit, an omitted area code) and at least 7 digits in common."""
    if a == b:
        return True
    short, long = sorted((a, b), key=len)
    return (
        len(short) >= _MIN_SUFFIX_DIGITS
        and len(long) - len(short) <= _MAX_PREFIX_DIGITS
        and long.endswith(short)
    )


class CallbackBook:
    """Missed calls waiting for a call back, closed by later calls or by their deadline.

    ``profile_for`` gives the charter of a department (None: no department known).
    ``business_hours``, when given, makes every deadline run on office hours (a site option);
    a profile whose ``deadline_clock`` is ``business`` uses it too, or ``fallback_hours`` when
    the site gives none (default: 09:00-18:00 Monday to Friday, Seoul, no holidays). ``staff``
    holds the staff extensions (their calls are never callable numbers).
    """

    def __init__(
        self,
        profile_for: Callable[[str | None], Profile],
        *,
        business_hours: BusinessHours | None = None,
        fallback_hours: BusinessHours | None = None,
        staff: Collection[str] | Callable[[str], bool] = (),
    ) -> None:
        self._profile_for = profile_for
        self._hours = business_hours
        self._fallback_hours = fallback_hours or BusinessHours()
        self._is_staff = staff if callable(staff) else frozenset(staff).__contains__
        self._book: dict[str, Callback] = {}

    def feed_call(self, call: Call) -> list[Callback]:
        """Take one finished customer call; return the callbacks it opened or changed."""
        if not call.complete:
            return []
        if call.direction == "inbound" and call.missed:
            opened = self._open(call)
            return [] if opened is None else [opened]
        if call.direction == "outbound":
            return self._call_back(call)
        return []

    def tick(self, now: int) -> list[Callback]:
        """Advance the capture clock to ``now``; return the callbacks that became missed."""
        changed = []
        for key, cb in self._book.items():
            if cb.status == "open" and cb.due_at is not None and now > cb.due_at:
                changed.append(self._store(key, replace(cb, status="missed")))
        return changed

    def record_request(
        self,
        number: str,
        at: int,
        due_at: int,
        within: Callable[[Callback], bool] | None = None,
    ) -> list[Callback]:
        """Record that the caller at ``number`` asked, at ``at``, to be called back at
        ``due_at``: that time becomes the deadline of their callbacks opened by ``at`` (only
        those ``within`` admits, when given: the requester's departments).

        Raises :class:`CallbackError` when there is no such callback, when the time is before
        the missed call, or when the charter makes no promise about a requested time.
        """
        wanted = normalize_number(number)
        if wanted is None:
            raise CallbackError(f"{number!r} is not a callable number")
        hits = [
            (key, cb)
            for key, cb in self._book.items()
            if same_number(cb.number, wanted)
            and cb.opened_at <= at
            and cb.status in ("open", "missed")
            and (within is None or within(cb))
        ]
        if not hits:
            raise CallbackError(f"no open callback for {number} opened by {at}")
        for _, cb in hits:
            rule = self._profile_for(cb.department).callback
            if rule is None or not rule.promised_time:
                raise CallbackError(
                    f"charter {cb.charter} makes no promise to call back at a requested time"
                )
            if due_at < cb.opened_at:
                raise CallbackError(f"requested time {due_at} is before the missed call")
        # A new deadline reopens a missed callback; tick() judges it again.
        return [
            self._store(key, replace(cb, due_at=due_at, requested=True, status="open"))
            for key, cb in hits
        ]

    def restore(self, callbacks: Iterable[Callback]) -> int:
        """Load callbacks kept elsewhere (the store, after a restart); return how many.

        A callback already in the book is left as it is: the book's own copy is newer.
        """
        added = 0
        for cb in callbacks:
            if cb.call not in self._book:
                self._book[cb.call] = cb
                added += 1
        return added

    def open_callbacks(self) -> list[Callback]:
        """Callbacks still waiting, oldest first."""
        waiting = (cb for cb in self._book.values() if cb.status == "open")
        return sorted(waiting, key=lambda cb: cb.opened_at)

    def get(self, call_id: str) -> Callback | None:
        """The callback opened by the missed call ``call_id``, if any."""
        return self._book.get(call_id)

    def prune(self, before: int) -> int:
        """Forget closed and missed callbacks opened before ``before``; return how many."""
        stale = [k for k, cb in self._book.items() if cb.status != "open" and cb.opened_at < before]
        for key in stale:
            del self._book[key]
        return len(stale)

    def _open(self, call: Call) -> Callback | None:
        number = normalize_number(call.caller)
        if number is None or call.ended_at is None or call.id in self._book:
            return None
        if self._is_staff(number) or (call.caller is not None and self._is_staff(call.caller)):
            return None
        profile = self._profile_for(call.department)
        cb = Callback(
            call=call.id,
            number=number,
            department=call.department,
            charter=profile.id,
            opened_at=call.ended_at,
            due_at=self._due(profile, call.ended_at),
        )
        return self._store(call.id, cb)

    def _due(self, profile: Profile, opened_at: int) -> int | None:
        rule = profile.callback
        if rule is None or rule.deadline_s is None:
            return None
        hours = self._hours
        if hours is None and rule.deadline_clock == "business":
            hours = self._fallback_hours
        if hours is None:
            return opened_at + round(rule.deadline_s * 1_000_000)
        return hours.add(opened_at, rule.deadline_s)

    def _call_back(self, call: Call) -> list[Callback]:
        dialled = normalize_number(call.dialled)
        if dialled is None:
            return []
        changed = []
        for key, cb in sorted(self._book.items(), key=lambda kv: kv[1].opened_at):
            if (
                cb.status not in ("open", "missed")
                or cb.department != call.department
                or cb.opened_at > call.started_at
                or not same_number(cb.number, dialled)
            ):
                continue
            rule = self._profile_for(cb.department).callback
            keeps = "attempt" if rule is None else rule.keeps
            if keeps == "answered" and call.answered_at is None:
                changed.append(self._store(key, replace(cb, attempts=cb.attempts + 1)))
                continue
            in_time = cb.due_at is None or call.started_at <= cb.due_at
            done = replace(
                cb,
                called_back_at=call.started_at,
                by=call.caller,
                status="kept" if in_time else "late",
                attempts=cb.attempts + 1,
            )
            changed.append(self._store(key, done))
        return changed

    def _store(self, key: str, cb: Callback) -> Callback:
        self._book[key] = cb
        return cb
