"""Packets to leg events: reorder, parse and track, counting every message that is refused.

This is the ``capture → sip`` half of the core chain, still sans-IO: it is handed packets and
hands back events. Nothing is dropped silently: a packet that is not readable SIP is counted
under the parser's complaint and logged once per kind with the frame it came from.
"""

from __future__ import annotations

import logging
from collections import Counter

from callwatch.packet import Packet
from callwatch.sip.dialogs import DialogTracker, Timeouts
from callwatch.sip.events import LegEvent
from callwatch.sip.message import SipParseError, parse_message
from callwatch.sip.reorder import Reorderer

log = logging.getLogger(__name__)


class LegEventFeed:
    """Reorderer → parser → dialog tracker."""

    def __init__(self, *, reorder_window: int = 500_000, timeouts: Timeouts | None = None):
        self.reorderer = Reorderer(reorder_window)
        self.tracker = DialogTracker(timeouts)
        self.parse_errors: Counter[str] = Counter()

    def push(self, packet: Packet) -> list[LegEvent]:
        """Take one captured packet; return the events that are now certain."""
        out: list[LegEvent] = []
        for ready in self.reorderer.push(packet):
            out.extend(self._track(ready))
        return out

    def tick(self, now: int) -> list[LegEvent]:
        """Advance capture time on a quiet line (the live service calls this)."""
        out: list[LegEvent] = []
        for ready in self.reorderer.tick(now):
            out.extend(self._track(ready))
        out.extend(self.tracker.tick(now))
        return out

    def flush(self) -> list[LegEvent]:
        """End of input: release held packets and close what the caller gave up on."""
        out: list[LegEvent] = []
        for ready in self.reorderer.flush():
            out.extend(self._track(ready))
        out.extend(self.tracker.flush())
        return out

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
        return self.tracker.feed(
            packet.ts,
            msg,
            src=packet.src,
            dst=packet.dst,
            transport=packet.transport,
            correlation_id=corr,
        )


def _error_kind(exc: SipParseError) -> str:
    """A short, stable label for a parse error (its message up to the first colon)."""
    text = str(exc).split(":", 1)[0].strip().lower()
    return text[:60] or "unreadable"
