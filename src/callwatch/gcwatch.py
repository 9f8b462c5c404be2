"""How long the garbage collector stops the service, per generation, for ``/metrics``.

A full collection over a large heap stops the event loop: while it runs, the HEP socket is not
read and, past the receive buffer, the kernel drops datagrams. :class:`GcWatch` times every
collection through :data:`gc.callbacks` so an admin can see such stops beside the kernel's
drop count. Timing uses the monotonic performance counter; the core never sees it.
"""

from __future__ import annotations

import gc
import time
from bisect import bisect_left

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)
"""Histogram bounds in seconds (the last bucket, +Inf, is implicit)."""


class GcWatch:
    """Per generation: a histogram of pause lengths (counts per bucket, +Inf last) and the sum."""

    def __init__(self) -> None:
        self.counts = [[0] * (len(BUCKETS) + 1) for _ in range(3)]
        self.sums = [0.0, 0.0, 0.0]
        self._started = 0.0
        self._installed = False

    def install(self) -> None:
        """Start timing collections (idempotent)."""
        if not self._installed:
            gc.callbacks.append(self._callback)
            self._installed = True

    def uninstall(self) -> None:
        """Stop timing collections."""
        if self._installed:
            gc.callbacks.remove(self._callback)
            self._installed = False

    def _callback(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        pause = time.perf_counter() - self._started
        generation = min(max(info.get("generation", 0), 0), 2)
        self.counts[generation][bisect_left(BUCKETS, pause)] += 1
        self.sums[generation] += pause
