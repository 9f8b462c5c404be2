"""Puts packets back in capture-time order within a short window.

Two capture agents, a HEP sender's threads or a switch's mirror port can deliver packets a
little out of order. The reorderer holds each packet for ``window`` microseconds of capture
time and releases packets oldest first. A packet older than what has already been released
("late") is passed on at once rather than dropped, and counted.
"""

from __future__ import annotations

import heapq
from itertools import count

from callwatch.capture.packet import Packet


class Reorderer:
    """Sans-IO reorder buffer keyed by capture time."""

    def __init__(self, window: int = 500_000) -> None:
        self.window = window
        self.late = 0
        self._heap: list[tuple[int, int, Packet]] = []
        self._seq = count()
        self._newest = 0
        self._released = 0

    def push(self, packet: Packet) -> list[Packet]:
        """Add a packet; return the packets that are now old enough to release, in order."""
        if packet.ts < self._released:
            self.late += 1
            return [packet]
        heapq.heappush(self._heap, (packet.ts, next(self._seq), packet))
        if packet.ts > self._newest:
            self._newest = packet.ts
        return self._release(self._newest - self.window)

    def tick(self, now: int) -> list[Packet]:
        """Release what is older than ``now - window`` (for a quiet live line)."""
        return self._release(now - self.window)

    def flush(self) -> list[Packet]:
        """Release everything (end of input)."""
        return self._release(None)

    def __len__(self) -> int:
        return len(self._heap)

    def _release(self, upto: int | None) -> list[Packet]:
        out: list[Packet] = []
        heap = self._heap
        while heap and (upto is None or heap[0][0] <= upto):
            ts, _, packet = heapq.heappop(heap)
            self._released = ts
            out.append(packet)
        return out
