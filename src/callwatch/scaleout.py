"""``callwatch collect`` and ``callwatch worker``: the core on capture nodes, the store elsewhere.

A collector runs capture + core and publishes events, breaches and whole judged calls over
MQTT; workers share a subscription and store what arrives (see :mod:`callwatch.bus`). These
are the command-line ends of :func:`callwatch.bus.collect.run_collect` and
:func:`callwatch.bus.worker.run_worker`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from callwatch.bus.collect import run_collect
from callwatch.bus.handover import HandoverError
from callwatch.bus.worker import adopt_session, run_worker
from callwatch.bus.worker_state import DEFAULT_HANDOVER_AFTER, DEFAULT_SESSION_EXPIRY
from callwatch.capture import CaptureStats, Packet, read_capture
from callwatch.capture.listener import start_hep_listener
from callwatch.settings import Settings
from callwatch.site import SiteConfig

log = logging.getLogger(__name__)


_NEVER = 0xFFFFFFFF  # MQTT v5: a session with this expiry never expires


class ScaleoutError(Exception):
    """A collector or worker that cannot start (no broker URL, ...)."""


def _stop_event() -> asyncio.Event:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    return stop


async def _hep_packets(settings: Settings, stop: asyncio.Event) -> AsyncIterator[Packet]:
    """Packets from the HEP listener until ``stop`` is set."""
    queue: asyncio.Queue[Packet] = asyncio.Queue(maxsize=100_000)

    def on_packet(packet: Packet) -> None:
        try:
            queue.put_nowait(packet)
        except asyncio.QueueFull:
            log.error("collector queue full: the broker side cannot keep up; packet dropped")

    transport, _ = await start_hep_listener(
        on_packet,
        settings.hep_host,
        settings.hep_port,
        allow=settings.hep_allow,
        auth_key=settings.hep_auth_key,
    )
    log.info("collecting HEP on %s:%d", settings.hep_host, settings.hep_port)
    waiter = asyncio.ensure_future(stop.wait())
    try:
        while not stop.is_set():
            getter = asyncio.ensure_future(queue.get())
            done, _ = await asyncio.wait({getter, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if getter in done:
                yield getter.result()
            else:
                getter.cancel()
        while not queue.empty():
            yield queue.get_nowait()
    finally:
        waiter.cancel()
        transport.close()


def _file_packets(files: Iterable[str]) -> Iterable[Packet]:
    stats = CaptureStats()
    for name in files:
        yield from read_capture(Path(name), stats)


def collect(site: SiteConfig, settings: Settings, files: list[str], identifier: str | None) -> int:
    """Run a collector: replay ``files``, or listen for HEP when none are given."""
    url = _broker(settings, "collect")

    async def main() -> None:
        stop = _stop_event()
        source = _file_packets(files) if files else _hep_packets(settings, stop)
        stats = await run_collect(
            site,
            source,
            url,
            spool_dir=settings.spool_path / "collect",
            identifier=identifier,
            live=not files,
            clock=settings.capture_clock(),
            probe_callers=settings.probe_callers,
        )
        log.info("collector done: %s", stats)

    asyncio.run(main())
    return 0


def work(
    site: SiteConfig,
    settings: Settings,
    group: str,
    identifier: str | None,
    *,
    session_expiry: int | None = None,
    handover_after: int | None = None,
) -> int:
    """Run a worker until SIGINT/SIGTERM (it then leaves the group, see the deploy guide)."""

    url = _broker(settings, "worker")
    session_expiry = session_expiry or DEFAULT_SESSION_EXPIRY
    handover_after = handover_after or DEFAULT_HANDOVER_AFTER
    if handover_after >= session_expiry:
        raise ScaleoutError("--handover-after must be shorter than --session-expiry")
    if session_expiry >= _NEVER:
        raise ScaleoutError(f"--session-expiry must be below {_NEVER} s (MQTT's 'never')")

    async def main() -> None:
        stop = _stop_event()
        ready = asyncio.Event()

        async def announce() -> None:
            await ready.wait()
            log.info("worker subscribed (group %s) to %s", group, url)

        announcer = asyncio.create_task(announce())
        stats = await run_worker(
            site,
            url,
            settings.store_url,
            group,
            spool_dir=settings.spool_path / "worker",
            identifier=identifier,
            session_expiry=session_expiry,
            handover_after=handover_after,
            stop=stop,
            ready=ready,
            probe_callers=settings.probe_callers,
        )
        announcer.cancel()
        log.info("worker done: %s", stats)

    asyncio.run(main())
    return 0


def adopt(
    site: SiteConfig,
    settings: Settings,
    group: str,
    lost: str,
    *,
    session_expiry: int | None = None,
) -> int:
    """Drain the session of the worker ``lost`` (one that will not come back) into the store."""
    url = _broker(settings, "worker --adopt")
    import aiomqtt

    try:
        stats = asyncio.run(
            adopt_session(
                site,
                url,
                settings.store_url,
                lost,
                group,
                spool_dir=settings.spool_path / "worker-adopt",
                session_expiry=session_expiry or DEFAULT_SESSION_EXPIRY,
                probe_callers=settings.probe_callers,
            )
        )
    except (HandoverError, aiomqtt.MqttError) as exc:
        raise ScaleoutError(f"session {lost} not drained (it is kept): {exc}") from None
    if stats is None:
        print(f"no session {lost} on the broker: nothing to drain")
    else:
        print(
            f"session {lost}: {stats.stored} records stored, {stats.rejected} rejected; "
            "session ended"
        )
    return 0


def _broker(settings: Settings, command: str) -> str:
    if not settings.mqtt_url:
        raise ScaleoutError(f"{command} needs a broker: set CALLWATCH_MQTT_URL or service.mqtt_url")
    return settings.mqtt_url
