"""Packets to leg events: reorder, parse and track, counting every message that is refused.

This is the ``capture → sip`` half of the core chain, still sans-IO: it is handed packets and
hands back events. Nothing is dropped silently: a packet that is not readable SIP is counted
under the parser's complaint and logged once per kind with the frame it came from.

Manager (AMI) events pushed with the packets wait in the same reorder window and come out
unchanged, in their place on the time line, for the call assembler. Once a manager event has
passed, a HEP copy whose correlation id is not its Call-ID (Asterisk's ``uuid_type =
channel``: the channel's name) gives a :class:`~callwatch.sip.ami.HepChannel` the first time
a dialog shows it, for the assembler to tie the dialog to that manager channel.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Sequence

from callwatch.packet import Packet
from callwatch.sip.ami import AmiEvent, HepChannel
from callwatch.sip.dialogs import DialogTracker, Timeouts
from callwatch.sip.events import LegEvent
from callwatch.sip.message import SipMessage, SipParseError, parse_message
from callwatch.sip.reorder import Item, Reorderer

log = logging.getLogger(__name__)

FeedOutput = LegEvent | AmiEvent | HepChannel
"""What the feed hands on: leg events, the manager events it was given, in time order, and
(with manager events) the channel names HEP gave dialogs. A feed given packets only hands on
leg events only."""

MAX_HEP_CHANNELS = 10_000
"""Dialogs whose HEP channel name is remembered, so it is handed on once; the oldest go first
(one forgotten while its dialog lasts is handed on again, which ties nothing new)."""


class LegEventFeed:
    """Reorderer → parser → dialog tracker."""

    def __init__(self, *, reorder_window: int = 500_000, timeouts: Timeouts | None = None):
        self.reorderer = Reorderer(reorder_window)
        self.tracker = DialogTracker(timeouts)
        self.parse_errors: Counter[str] = Counter()
        self._hep_channels: dict[str, str] = {}
        self._ami = False  # a manager event has passed: hand on HEP channel names
        self.on_message: Callable[[Packet, SipMessage], None] | None = None
        """Called with each packet that parsed and its message, in time order, before the
        tracker takes it: a driver that keeps raw messages (the store's ladder view) takes
        them from here instead of parsing each packet again."""

    def push(self, packet: Item) -> list[FeedOutput]:
        """Take one captured packet (or manager event); return the events now certain."""
        out: list[FeedOutput] = []
        for item in self.reorderer.push(packet):  # mostly none: packets wait in the window
            if isinstance(item, Packet):
                out.extend(self._track(item))
            else:
                self._ami = True
                out.append(item)
        return out

    def tick(self, now: int) -> list[FeedOutput]:
        """Advance capture time on a quiet line (the live service calls this)."""
        out: list[FeedOutput] = []
        self._take(self.reorderer.tick(now), out)
        out.extend(self.tracker.tick(now))
        return out

    def flush(self) -> list[FeedOutput]:
        """End of input: release held packets and close what the caller gave up on."""
        out: list[FeedOutput] = []
        self._take(self.reorderer.flush(), out)
        out.extend(self.tracker.flush())
        return out

    def _take(self, ready: list[Item], out: list[FeedOutput]) -> None:
        for item in ready:
            if isinstance(item, Packet):
                out.extend(self._track(item))
            else:
                self._ami = True
                out.append(item)

    def _track(self, packet: Packet) -> Sequence[FeedOutput]:
        try:
            msg = parse_message(packet.payload)
        except SipParseError as exc:
            kind = _error_kind(exc)
            if not self.parse_errors[kind]:
                where = f"frame {packet.frame}" if packet.frame else "live packet"
                log.warning(
                    "unreadable SIP (%s) in %s from %s:%s: %s; further ones are counted",
                    kind,
                    where,
                    packet.src[0],
                    packet.src[1],
                    exc,
                )
            self.parse_errors[kind] += 1
            return []
        if self.on_message is not None:
            self.on_message(packet, msg)
        corr = packet.correlation_id.decode("utf-8", "replace") if packet.correlation_id else None
        # by position: the interpreter matches keyword arguments by name on every call
        events = self.tracker.feed(packet.ts, msg, packet.src, packet.dst, packet.transport, corr)
        if corr is None or not self._ami or corr == msg.call_id:
            return events
        named = self._hep_channels
        if named.get(msg.call_id) == corr:
            return events
        if len(named) >= MAX_HEP_CHANNELS:
            del named[next(iter(named))]
        named[msg.call_id] = corr
        return [*events, HepChannel(packet.ts, msg.call_id, corr)]


def _error_kind(exc: SipParseError) -> str:
    """A short, stable label for a parse error (its message up to the first colon)."""
    text = str(exc).split(":", 1)[0].strip().lower()
    return text[:60] or "unreadable"
