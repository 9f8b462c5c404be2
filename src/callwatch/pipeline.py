"""The whole core chain, sans-IO: packets in; leg events, judged calls and callback news out.

``capture → sip → calls → charter`` as DESIGN.md draws it. The live service, the file
command line and the benchmarks all drive this one object, so a capture replayed through any
of them gives the same verdicts. Time comes only from the packets and from :meth:`tick`.
"""

from __future__ import annotations

from dataclasses import dataclass

from callwatch.calls.assembler import CallAssembler
from callwatch.calls.model import Call
from callwatch.capture.packet import Packet
from callwatch.charter import rules
from callwatch.charter.callbacks import Callback
from callwatch.charter.profile import Profile
from callwatch.charter.verdict import Verdict
from callwatch.config import SiteConfig
from callwatch.fieldpickle import pickle_by_fields
from callwatch.sip.dialogs import Timeouts
from callwatch.sip.events import LegEvent
from callwatch.sip.feed import LegEventFeed

_SECOND = 1_000_000


@dataclass(slots=True)
class JudgedCall:
    """A finished customer call, its charter and the verdicts of its rules.

    ``verdicts`` holds answer, transfer and hang-up; a missed call's callback is decided later
    and reported as a :class:`CallbackNews`. ``callback`` is the callback it opened, if any.
    """

    call: Call
    profile: Profile
    verdicts: list[Verdict]
    callback: Callback | None = None


@dataclass(slots=True)
class CallbackNews:
    """A callback opened, kept, late or missed, with its verdict once it is decided."""

    callback: Callback
    verdicts: list[Verdict]


Output = LegEvent | JudgedCall | CallbackNews


class CallPipeline:
    """Reorder → parse → track dialogs → assemble calls → judge → keep the callback book."""

    def __init__(
        self,
        site: SiteConfig,
        *,
        reorder_window: int = 500_000,
        timeouts: Timeouts | None = None,
    ) -> None:
        self.site = site
        self.legs = LegEventFeed(reorder_window=reorder_window, timeouts=timeouts)
        self.assembler = CallAssembler(site.directory, site.correlation_headers)
        self.book = site.callback_book()
        self.calls_out = 0
        self.last_ts = 0
        self._next_book_tick = 0

    def push(self, packet: Packet) -> list[Output]:
        """Take one captured packet; return what it settled."""
        if packet.ts > self.last_ts:
            self.last_ts = packet.ts
        out: list[Output] = []
        for event in self.legs.push(packet):
            out.append(event)
            self._calls(self.assembler.feed(event), out)
        self._book_tick(self.last_ts, out)
        return out

    def tick(self, now: int) -> list[Output]:
        """Advance capture time on a quiet line: timeouts, finished calls, missed callbacks."""
        out: list[Output] = []
        for event in self.legs.tick(now):
            out.append(event)
            self._calls(self.assembler.feed(event), out)
        self._calls(self.assembler.tick(now), out)
        self._next_book_tick = 0
        self._book_tick(now, out)
        return out

    def flush(self, as_of: int | None = None) -> list[Output]:
        """End of input: everything still held comes out; calls still up are incomplete.

        Callback deadlines are judged at ``as_of`` (default: the last packet's time).
        """
        out: list[Output] = []
        for event in self.legs.flush():
            out.append(event)
            self._calls(self.assembler.feed(event), out)
        self._calls(self.assembler.flush(), out)
        self._next_book_tick = 0
        self._book_tick(self.last_ts if as_of is None else as_of, out)
        return out

    def as_now(self, judged: JudgedCall) -> tuple[list[Verdict], Callback | None]:
        """A judged call's verdicts and callback as the book has them now: a missed call's
        callback may have been kept, become late or missed since the call was judged."""
        if judged.callback is None:
            return judged.verdicts, None
        cb = self.book.get(judged.call.id) or judged.callback
        return judged.verdicts + self.judge_callback(cb), cb

    def judge_callback(self, cb: Callback) -> list[Verdict]:
        """The callback verdict of ``cb`` under its department's charter (none while open)."""
        return rules.callback(cb, self.site.profile_for(cb.department))

    def _calls(self, calls: list[Call], out: list[Output]) -> None:
        for call in calls:
            self.calls_out += 1
            profile = self.site.profile_for(call.department)
            judged = JudgedCall(call, profile, rules.judge(call, profile))
            out.append(judged)
            for cb in self.book.feed_call(call):
                if cb.call == call.id:
                    judged.callback = cb
                out.append(CallbackNews(cb, self.judge_callback(cb)))

    def _book_tick(self, now: int, out: list[Output]) -> None:
        if now < self._next_book_tick:  # deadlines are judged to the second
            return
        self._next_book_tick = now + _SECOND
        for cb in self.book.tick(now):
            out.append(CallbackNews(cb, self.judge_callback(cb)))


pickle_by_fields(JudgedCall, CallbackNews)  # the service hands them to its store process
