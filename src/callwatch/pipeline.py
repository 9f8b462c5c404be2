"""The whole core chain, sans-IO: packets in; leg events, judged calls and callback news out.

``capture → sip → calls → charter`` as docs/architecture.md draws it. The live service, the
scale-out collector, the file command line and the benchmarks all drive this one object, so a
capture replayed through any of them gives the same verdicts. Time comes only from the packets,
guarded by the pipeline's :class:`~callwatch.sip.clock.CaptureClock`, and from what a driver
passes to :meth:`CallPipeline.tick` (capture time) or :meth:`CallPipeline.advance` (a live
driver's wall clock, once a second).

Asterisk's manager events (:class:`~callwatch.sip.ami.AmiEvent`) are one more time-stamped
input: :meth:`CallPipeline.push` takes them beside the packets, through the same clock and
reorder window, and the call assembler reads them in their place on the time line. Without
them everything is read from SIP alone.
"""

from __future__ import annotations

from dataclasses import dataclass

from callwatch.calls.assembler import CallAssembler
from callwatch.calls.model import Call
from callwatch.charter import rules
from callwatch.charter.callbacks import Callback
from callwatch.charter.profile import Profile
from callwatch.charter.verdict import Verdict
from callwatch.fieldpickle import pickle_by_fields
from callwatch.frozen import fast_init
from callwatch.packet import Packet
from callwatch.sip.ami import AmiEvent
from callwatch.sip.clock import CaptureClock
from callwatch.sip.dialogs import Timeouts
from callwatch.sip.events import LegEvent
from callwatch.sip.feed import FeedOutput, LegEventFeed
from callwatch.site import SiteConfig

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

    def __init__(
        self,
        call: Call,
        profile: Profile,
        verdicts: list[Verdict],
        callback: Callback | None = None,
    ) -> None:
        self.call = call
        self.profile = profile
        self.verdicts = verdicts
        self.callback = callback


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
        clock: CaptureClock | None = None,
    ) -> None:
        self.site = site
        self.clock = clock or CaptureClock()
        self.legs = LegEventFeed(reorder_window=reorder_window, timeouts=timeouts)
        self.assembler = CallAssembler(site.directory, site.correlation_headers, pbx=site.pbx)
        self.book = site.callback_book()
        self.calls_out = 0
        self._next_book_tick = 0

    @property
    def watermark(self) -> int:
        """The latest capture time the pipeline has acted on (0 before the first packet)."""
        return self.clock.mark

    def earliest_held(self) -> int | None:
        """The earliest capture time of any packet the pipeline's open state may still rest on.

        Packets in the reorder window, legs the dialog tracker remembers and calls being
        assembled all start at or after it; a packet stamped before it no longer matters to
        anything open. None when nothing is held; 0 while the clock holds packets far ahead
        that wait for confirmation (they are not placed in time yet). A driver that keeps the
        packets it pushed (the service's journal) may drop those stamped before it.
        """
        if self.clock.holding:
            return 0
        times = [
            t
            for t in (
                self.legs.reorderer.earliest(),
                self.legs.tracker.earliest(),
                self.assembler.earliest(),
            )
            if t is not None
        ]
        return min(times) if times else None

    def push(self, packet: Packet | AmiEvent) -> list[Output]:
        """Take one captured packet (or manager event); return what it settled."""
        out: list[Output] = []
        clock = self.clock
        ts = packet.ts
        if clock.gate_lo <= ts <= clock.gate_hi:  # what admit() does first, without the call
            if ts > clock.mark:
                clock.mark = ts
            admitted: list[Packet | AmiEvent] = [packet]
        else:
            admitted = clock.admit(packet)
        for item in admitted:
            for event in self.legs.push(item):
                if isinstance(event, LegEvent):
                    out.append(event)
                    calls = self.assembler.feed(event)
                else:
                    calls = self.assembler.feed_ami(event)
                if calls:
                    self._calls(calls, out)
        if clock.mark >= self._next_book_tick:
            self._book_tick(clock.mark, out)
        return out

    def push_ami(self, event: AmiEvent) -> list[Output]:
        """Take one manager event (Asterisk's AMI); return what it settled."""
        return self.push(event)

    def advance(self, wall: int) -> list[Output]:
        """A live driver's wall clock (microseconds), once a second: the watermark follows it,
        less the clock's skew allowance, and the core is ticked to the watermark."""
        return self.tick(self.clock.advance(wall))

    def tick(self, now: int) -> list[Output]:
        """Advance capture time on a quiet line: timeouts, finished calls, missed callbacks.

        ``now`` is capture time (a live driver calls :meth:`advance` instead)."""
        out: list[Output] = []
        self._take(self.legs.tick(now), out)
        self._calls(self.assembler.tick(now), out)
        self._next_book_tick = 0
        self._book_tick(now, out)
        return out

    def flush(self, as_of: int | None = None) -> list[Output]:
        """End of input: everything still held comes out; calls still up are incomplete.

        Callback deadlines are judged at ``as_of`` (default: the watermark).
        """
        self.clock.flush()
        out: list[Output] = []
        self._take(self.legs.flush(), out)
        self._calls(self.assembler.flush(), out)
        self._next_book_tick = 0
        self._book_tick(self.clock.mark if as_of is None else as_of, out)
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
        return rules.judge_callback(cb, self.site.profile_for(cb.department))

    def _take(self, items: list[FeedOutput], out: list[Output]) -> None:
        for item in items:
            if isinstance(item, LegEvent):
                out.append(item)
                calls = self.assembler.feed(item)
            else:
                calls = self.assembler.feed_ami(item)
            if calls:
                self._calls(calls, out)

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

# written out (callwatch.frozen): compiled, the generated ones would run interpreted
fast_init(JudgedCall, JudgedCall.__init__)
