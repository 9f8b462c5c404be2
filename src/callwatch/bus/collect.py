"""The capture node of a scaled-out site: packets → core → MQTT, no database.

``callwatch collect`` runs :func:`run_collect`. It drives one :class:`CallPipeline` with the
packets it is given and publishes leg events, breaches, and the lossless judged calls and
callback news that workers (:mod:`callwatch.bus.worker`) store. Two collectors that see the
same calls publish the same ids and the same records, which the store absorbs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, Iterable
from pathlib import Path
from typing import Any

from callwatch.bus.publisher import Publisher, PublisherStats
from callwatch.capture.packet import Packet
from callwatch.pipeline import CallPipeline
from callwatch.sip.clock import CaptureClock
from callwatch.site import SiteConfig

_YIELD_EVERY = 200  # packets from a plain iterable between turns of the event loop


async def run_collect(
    site: SiteConfig,
    packets_source: AsyncIterable[Packet] | Iterable[Packet],
    url: str,
    *,
    spool_dir: str | Path = "callwatch-collect-spool",
    identifier: str | None = None,
    live: bool = False,
    clock: CaptureClock | None = None,
    drain_timeout: float = 30.0,
    **publisher_options: Any,
) -> PublisherStats:
    """Run the core on ``packets_source`` and publish what it settles; return the counters.

    ``live`` hands the core the wall clock once a second (:meth:`CallPipeline.advance`, with
    ``clock``'s skew allowance, as ``serve`` does) so calls and callback deadlines settle on a
    quiet line; without it (a file replay) the capture's own
    time is the only clock and everything left is flushed at the end of the source. The
    publisher waits up to ``drain_timeout`` s for the broker to take everything; what it did
    not take stays in ``spool_dir`` for the next run. ``publisher_options`` go to
    :class:`Publisher` (``max_inflight``, ``reveal_numbers``...).
    """
    pipe = CallPipeline(site, clock=clock)
    publisher = Publisher(
        url, site, spool_dir=spool_dir, identifier=identifier, calls=True, **publisher_options
    )
    await publisher.start()
    ticker = asyncio.create_task(_tick(pipe, publisher)) if live else None
    try:
        if isinstance(packets_source, AsyncIterable):
            async for packet in packets_source:
                publisher.submit(pipe.push(packet))
        else:
            for count, packet in enumerate(packets_source, start=1):
                publisher.submit(pipe.push(packet))
                if count % _YIELD_EVERY == 0:
                    await asyncio.sleep(0)
        if ticker is not None:
            ticker.cancel()
        publisher.submit(pipe.flush())
        await publisher.wait_idle(drain_timeout)
    finally:
        if ticker is not None:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
        await publisher.stop(drain_timeout=1.0)
    return publisher.stats


async def _tick(pipe: CallPipeline, publisher: Publisher) -> None:
    while True:
        await asyncio.sleep(1.0)
        publisher.submit(pipe.advance(time.time_ns() // 1000))
