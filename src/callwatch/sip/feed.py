"""Packets to leg events: reorder, parse and track, counting every message that is refused.

This is the ``capture → sip`` half of the core chain, still sans-IO: it is handed packets and
hands back events. Nothing is dropped silently: a packet that is not readable SIP is counted
under the parser's complaint and logged once per kind with the frame it came from.

Manager (AMI) events pushed with the packets wait in the same reorder window and come out
unchanged, in their place on the time line, for the call assembler.
"""

from __future__ import annotations

import logging
from collections import Counter

from callwatch.packet import Packet
from callwatch.sip.ami import AmiEvent
from callwatch.sip.dialogs import DialogTracker, Timeouts
from callwatch.sip.events import LegEvent
from callwatch.sip.message import SipParseError, parse_message
from callwatch.sip.reorder import Item, Reorderer

log = logging.getLogger(__name__)

FeedOutput = LegEvent | AmiEvent
"""What the feed hands on: leg events, and the manager events it was given, in time order.
A feed given packets only hands on leg events only."""


class LegEventFeed:
    """Reorderer → parser → dialog tracker."""

    def __init__(self, *, reorder_window: int = 500_000, timeouts: Timeouts | None = None):
        self.reorderer = Reorderer(reorder_window)
        self.tracker = DialogTracker(timeouts)
        self.parse_errors: Counter[str] = Counter()

    def push(self, packet: Item) -> list[FeedOutput]:
        """Take one captured packet (or manager event); return the events now certain."""
        out: list[FeedOutput] = []
        for item in self.reorderer.push(packet):  # mostly none: packets wait in the window
            if isinstance(item, Packet):
                out.extend(self._track(item))
            else:
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
                out.append(item)

    def _track(self, packet: Packet) -> list[LegEvent]:
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
        corr = packet.correlation_id.decode("utf-8", "replace") if packet.correlation_id else None
        # by position: the interpreter matches keyword arguments by name on every call
        return self.tracker.feed(packet.ts, msg, packet.src, packet.dst, packet.transport, corr)


def _error_kind(exc: SipParseError) -> str:
    """A short, stable label for a parse error (its message up to the first colon)."""
    text = str(exc).split(":", 1)[0].strip().lower()
    return text[:60] or "unreadable"
