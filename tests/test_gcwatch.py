"""Garbage collector pauses timed per generation for /metrics."""

from __future__ import annotations

import gc

from callwatch.gcwatch import BUCKETS, GcWatch


def test_each_collection_lands_in_its_generation_and_uninstall_stops_it() -> None:
    watch = GcWatch()
    watch.install()
    watch.install()  # idempotent: one callback
    try:
        gc.collect(2)
        gc.collect(0)
    finally:
        watch.uninstall()
    assert sum(watch.counts[2]) == 1 and sum(watch.counts[0]) >= 1
    assert all(len(c) == len(BUCKETS) + 1 for c in watch.counts)
    assert watch.sums[2] > 0
    before = [list(c) for c in watch.counts]
    gc.collect(2)
    assert watch.counts == before
    watch.uninstall()  # idempotent
