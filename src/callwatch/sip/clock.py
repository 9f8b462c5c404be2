"""Capture time as the core sees it (the watermark), guarded against implausible packet times.

Every time in the core comes from packets, so one packet stamped in the year 2100 must not be
allowed to move the clock: every open callback would turn ``missed`` and every timeout fire.
The rules, in order:

* With a wall clock (a live driver calls :meth:`CaptureClock.advance` once a second), a packet
  stamped more than ``max_ahead`` after it or more than ``max_jump`` before it is refused; on a
  quiet line the mark follows ``wall - skew``, where ``skew`` covers a PBX clock a little behind
  ours and packets still in flight.
* A packet at most ``max_jump`` ahead of the mark is admitted and moves the mark to its time.
* A packet further ahead is held, not used. ``confirm`` held packets within ``max_jump`` of each
  other show a real jump (a capture file resuming after a quiet night): they are admitted in
  time order and the mark moves with them. Held packets still unconfirmed after ``patience``
  admitted packets, or at the end of input, are refused.

Refused packets are counted by reason; the mark never goes back. Manager (AMI) events are
time-stamped input too (:class:`~callwatch.sip.ami.AmiEvent`) and pass the same rules.

Almost every packet is near the mark and admitted as it is. The clock keeps a *gate*, the
times ``[gate_lo, gate_hi]`` for which that is certain whatever the mark has become since the
gate was set (the mark only rises, so the limits it gives only widen): nothing held, within
the wall clock's limits, at most ``max_jump`` after the mark. :meth:`CaptureClock.admit` takes
a packet inside the gate with one comparison; the rules above are read only for the others,
and set the gate again. Nothing held and no mark yet (the first packet) closes the gate.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Final

from callwatch.packet import Packet
from callwatch.sip.ami import AmiEvent

_SECOND: Final = 1_000_000

AHEAD_OF_WALL: Final = "ahead of the wall clock"
BEHIND_WALL: Final = "behind the wall clock"
UNCONFIRMED_JUMP: Final = "unconfirmed jump in time"

log = logging.getLogger(__name__)

Stamped = Packet | AmiEvent
"""What the clock admits: a captured packet or a manager event."""


class CaptureClock:
    """The watermark of one pipeline: the latest capture time it may act on."""

    def __init__(
        self,
        *,
        skew: int = 2 * _SECOND,
        max_ahead: int = 300 * _SECOND,
        max_jump: int = 3600 * _SECOND,
        confirm: int = 3,
        patience: int = 10_000,
    ) -> None:
        self.skew = skew
        self.max_ahead = max_ahead
        self.max_jump = max_jump
        self.confirm = confirm
        self.patience = patience
        self.mark = 0
        self.wall: int | None = None
        self.refused: Counter[str] = Counter()
        self._held: list[Stamped] = []
        self._since_held = 0
        self.gate_lo = 1
        """With :attr:`gate_hi`: a packet stamped in ``[gate_lo, gate_hi]`` is admitted as it is,
        moving the mark to its time if later (see the module text); closed (empty) at first."""
        self.gate_hi = 0

    def admit(self, packet: Stamped) -> list[Stamped]:
        """The packets the core may take now: ``[packet]``, nothing, or held ones confirmed."""
        ts = packet.ts
        if self.gate_lo <= ts <= self.gate_hi:
            if ts > self.mark:
                self.mark = ts
            return [packet]
        admitted = self._admit(packet)
        self._set_gate()
        return admitted

    def _admit(self, packet: Stamped) -> list[Stamped]:
        """The rules of the module text, in order."""
        ts = packet.ts
        wall = self.wall
        if wall is not None:
            if ts > wall + self.max_ahead:
                return self._refuse(AHEAD_OF_WALL, packet)
            if ts < wall - self.max_jump:
                return self._refuse(BEHIND_WALL, packet)
        if self.mark == 0 or ts <= self.mark + self.max_jump:
            if ts > self.mark:
                self.mark = ts
            if self._held:
                self._since_held += 1
                if self._since_held > self.patience:
                    self._refuse_held()
            return [packet]
        return self._hold(packet)

    def advance(self, wall: int) -> int:
        """A live driver's wall clock (microseconds): the mark follows ``wall - skew``."""
        self.wall = wall
        if wall - self.skew > self.mark:
            self.mark = wall - self.skew
        self._set_gate()
        return self.mark

    @property
    def holding(self) -> bool:
        """True while packets far ahead wait for confirmation (see the module text)."""
        return bool(self._held)

    def flush(self) -> None:
        """End of input: packets still held were never confirmed."""
        self._refuse_held()
        self._set_gate()

    def _set_gate(self) -> None:
        """Open the gate as wide as the rules allow now, or close it (something held, no
        mark yet)."""
        if self._held or self.mark == 0:
            self.gate_lo, self.gate_hi = 1, 0
            return
        hi = self.mark + self.max_jump
        wall = self.wall
        if wall is None:
            # No lower limit in the rules: times before 1970 (none a reader gives) take the
            # long way, to the same end.
            self.gate_lo, self.gate_hi = 0, hi
        else:
            self.gate_lo, self.gate_hi = wall - self.max_jump, min(hi, wall + self.max_ahead)

    def _hold(self, packet: Stamped) -> list[Stamped]:
        held = self._held
        if not held:
            self._since_held = 0
        held.append(packet)
        newest = max(p.ts for p in held)
        near = [p for p in held if newest - p.ts <= self.max_jump]
        if len(near) < self.confirm:
            if len(held) > 4 * self.confirm:  # stray stamps that never agree: keep few
                held.sort(key=lambda p: p.ts)
                self._refuse(UNCONFIRMED_JUMP, held.pop(0))
            return []
        for stale in held:
            if newest - stale.ts > self.max_jump:
                self._refuse(UNCONFIRMED_JUMP, stale)
        held.clear()
        near.sort(key=lambda p: p.ts)
        self.mark = near[-1].ts
        return near

    def _refuse_held(self) -> None:
        for packet in self._held:
            self._refuse(UNCONFIRMED_JUMP, packet)
        self._held.clear()

    def _refuse(self, reason: str, packet: Stamped) -> list[Stamped]:
        if not self.refused[reason]:
            log.warning(
                "packet time refused (%s): %s stamped %d us, watermark %d us; "
                "further ones are counted",
                reason,
                _describe(packet),
                packet.ts,
                self.mark,
            )
        self.refused[reason] += 1
        return []


def _describe(item: Stamped) -> str:
    """Where a refused item came from, for the log."""
    if isinstance(item, AmiEvent):
        return f"manager event {item.seq} ({item.name})"
    where = f"frame {item.frame}" if item.frame else "live packet"
    return f"{where} from {item.src[0]}:{item.src[1]} (capture agent {item.capture_id})"
