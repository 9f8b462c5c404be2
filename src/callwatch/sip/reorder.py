"""Puts packets back in capture-time order within a short window.

Two capture agents, a HEP sender's threads or a switch's mirror port can deliver packets a
little out of order. The reorderer holds each packet for ``window`` microseconds of capture
time and releases packets oldest first. A packet older than what has already been released
("late") is passed on at once rather than dropped, and counted.

Some stamps are coarser than a microsecond: Asterisk's HEP stamps the messages it receives to
the millisecond (truncated) and the ones it sends to the microsecond, so a phone's 180 can be
stamped up to 1 ms before the INVITE it answers. A stamp that is a whole millisecond only
says the message came somewhere in that millisecond. When such a packet arrives after one
stamped later inside the same millisecond, arrival order is the better evidence: its time
is raised to that later stamp (still inside its millisecond) and it is released after it, so
a response is never handed on before the request it answers. Counted in ``coarse_raised``.

Manager (AMI) events wait in the same window as the packets (:class:`~callwatch.sip.ami.AmiEvent`,
stamped to the microsecond by Asterisk), so the core reads both streams on one time line.
"""

from __future__ import annotations

import heapq
from collections import deque
from itertools import count
from typing import Final

from callwatch.packet import Packet
from callwatch.sip.ami import AmiEvent

_MS: Final = 1000
"""A millisecond in capture-time units (microseconds): the coarse stamps' resolution."""

Item = Packet | AmiEvent
"""What the reorderer holds: captured packets and manager events, each with its ``ts``."""


class Reorderer:
    """Sans-IO reorder buffer keyed by capture time.

    Packets that arrive in time order (the usual case) wait in a queue; a packet older than
    the last one queued goes to a heap instead. Release takes the older of the two heads,
    ties in arrival order, exactly as a single heap would, at a fraction of its cost.
    """

    def __init__(self, window: int = 500_000) -> None:
        self.window = window
        self.late = 0
        self._queue: deque[tuple[int, int, Item]] = deque()  # arrival order = time order
        self._heap: list[tuple[int, int, Item]] = []  # items that arrived out of order
        self._seq = count()
        self._newest = 0
        self._released = 0
        self.coarse_raised = 0

    def push(self, packet: Item) -> list[Item]:
        """Add a packet (or a manager event); return what is now old enough to release, in
        order."""
        ts = packet.ts
        newest = self._newest
        if ts < newest and ts % _MS == 0 and newest - ts < _MS and isinstance(packet, Packet):
            # A millisecond stamp that arrived after a later stamp in its millisecond.
            ts = newest
            packet = Packet(
                ts,
                packet.src,
                packet.dst,
                packet.transport,
                packet.payload,
                packet.capture_id,
                packet.correlation_id,
                packet.frame,
            )
            self.coarse_raised += 1
        if ts < self._released:
            self.late += 1
            return [packet]
        queue = self._queue
        if not queue or ts >= queue[-1][0]:
            queue.append((ts, next(self._seq), packet))
        else:
            heapq.heappush(self._heap, (ts, next(self._seq), packet))
        if ts > newest:
            self._newest = newest = ts
        upto = newest - self.window
        if queue[0][0] > upto and (not self._heap or self._heap[0][0] > upto):
            return []
        return self._release(upto)

    def tick(self, now: int) -> list[Item]:
        """Release what is older than ``now - window`` (for a quiet live line)."""
        return self._release(now - self.window)

    def flush(self) -> list[Item]:
        """Release everything (end of input)."""
        return self._release(None)

    def __len__(self) -> int:
        return len(self._queue) + len(self._heap)

    def earliest(self) -> int | None:
        """The capture time of the oldest packet held (None when none is)."""
        times = [held[0][0] for held in (self._queue, self._heap) if held]
        return min(times) if times else None

    def _release(self, upto: int | None) -> list[Item]:
        out: list[Item] = []
        queue = self._queue
        heap = self._heap
        while True:
            if heap and (not queue or heap[0] < queue[0]):
                if upto is not None and heap[0][0] > upto:
                    break
                ts, _, packet = heapq.heappop(heap)
            elif queue:
                if upto is not None and queue[0][0] > upto:
                    break
                ts, _, packet = queue.popleft()
            else:
                break
            self._released = ts
            out.append(packet)
        return out
