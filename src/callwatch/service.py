"""The live service: capture sources → the core chain → sinks (store, broker), plus HTTP.

Theory of operation. One asyncio loop does everything that waits; nothing in it blocks:

* Sources (the HEP UDP listener, the AF_PACKET sniffer) call :meth:`Service.on_packet` for
  each SIP packet, and :meth:`Service.end_of_batch` after each batch they read. ``on_packet``
  pushes the packet through the sans-IO :class:`CallPipeline` and hands what comes out (leg
  events, judged calls, callback news) to every sink at once.
* A sink is anything with the small :class:`Sink` surface: ``submit`` only queues (it never
  blocks or raises), a task of its own delivers batches (database work runs in a thread), and
  ``close`` delivers what is queued before it returns.
* Once a second the ticker hands the pipeline the wall clock (:meth:`CallPipeline.advance`):
  the pipeline's watermark follows it, less ``clock_skew_ms``, so the core's reorder window,
  timeouts and callback deadlines fire on a quiet line but never ahead of the traffic, and a
  packet stamped far from the wall clock is refused and counted (:mod:`callwatch.sip.clock`).
  This is the only place the wall clock reaches the core.
* With ``ami_url`` set (``serve --ami``), :class:`~callwatch.pbx.ami.AmiClient` reads
  Asterisk's manager events and hands each to :meth:`Service.on_ami`, which pushes it through
  the same pipeline (one more time-stamped input); while the manager is away, calls are read
  from SIP alone.
* On stop (SIGINT/SIGTERM): the sources close, the pipeline is flushed (calls still up come out
  incomplete, which the rules never judge as breaches), and each sink drains.
* With a packet journal (``serve`` always has one, :mod:`callwatch.journal`): each packet,
  manager event and tick is appended to it before the pipeline sees it, and the outputs of
  that record are handed to the sinks tagged with its position. Packets are written at the
  end of each source batch (``end_of_batch``: one write for the batch), manager events and
  ticks at once; either way before the loop runs anything else, so before a sink can take
  an output of theirs. Once a second the service
  asks every :class:`~callwatch.sinks.DurableSink` how far it has taken its outputs for good
  and the pipeline for the earliest capture time it still holds, and moves the journal's
  checkpoint (segments nobody needs are deleted). On start it replays what the journal kept
  through the fresh pipeline before taking live traffic: outputs of records up to the
  checkpoint were taken already and are not handed out again; later ones are (the store's
  upserts absorb what it had, the publisher skips breaches it had published). So a kill -9
  loses neither the calls in flight nor outputs the database or the broker had not yet
  taken. A clean stop leaves an empty journal.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

import uvicorn

from callwatch import core_build
from callwatch.api.context import ApiContext
from callwatch.api.live import LiveSink
from callwatch.backlog import Backlog
from callwatch.bus.published import PublishedLog
from callwatch.bus.publisher import LATENCY_BUCKETS, Publisher
from callwatch.capture.listener import HepListener, HepProtocol, start_hep_listener
from callwatch.capture.packet import Packet
from callwatch.capture.sniffer import SnifferError, start_sniffer
from callwatch.capture.stats import CaptureStats
from callwatch.charter.callbacks import Callback
from callwatch.gcwatch import GcWatch
from callwatch.http import create_app
from callwatch.journal import PacketJournal
from callwatch.metrics import Metrics, Snapshot
from callwatch.pbx.ami import AmiClient
from callwatch.pipeline import CallbackNews, CallPipeline, JudgedCall, Output
from callwatch.probe.runner import ProbeSetupError, probe_runner
from callwatch.settings import Settings
from callwatch.sinks import BatchSink, DurableSink, PartStatus, Sink
from callwatch.sip.ami import AmiEvent
from callwatch.sip.events import LegEvent
from callwatch.sip.message import SipMessage
from callwatch.site import SiteConfig
from callwatch.store import Store
from callwatch.store_process import (
    RawFields,
    StoreProcess,
    StoreProcessError,
    StoreRequestUnreadable,
    raw_fields,
)

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
_HELD_MARGIN = 2_000_000  # µs kept in the journal before the earliest capture time held
_RCVBUF = 8 << 20
_SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)


class ServiceError(Exception):
    """The service cannot start (a port taken, a source not allowed, a sink that fails)."""


class StoreSink(BatchSink[Output | RawFields]):
    """The store as a sink: a :class:`~callwatch.store.StoreWriter` in a process of its own.

    All database work (writes, spool replays, the schema upgrade, maintenance) runs in the
    store process (:mod:`callwatch.store_process`), one request at a time from a worker thread
    that mostly waits on the pipe, so the loop never blocks and never shares its interpreter
    lock with the writer; it runs at idle CPU priority (``SCHED_IDLE``), so during a burst
    capture and the core come first and the store catches up after. Raw SIP messages are
    kept too for the ladder view, taken from the core as it parses them
    (:meth:`submit_message`). A batch leaves the queue only once the store process wrote or
    spooled it; when the process dies the batch is retried on a new one.

    Each batch is pickled into its request as it is sealed, so what waits while the store
    catches up is one ``bytes`` object per batch: the collector never scans it, and past
    ``memory_limit`` bytes it goes to the durable queue in ``SPOOL/backlog`` (see
    :class:`~callwatch.backlog.Backlog`) instead of growing memory.
    """

    name = "store"
    memory_limit = 64 << 20
    _POLL_SECONDS = 0.5
    _MAINTENANCE_SECONDS = 300.0

    def __init__(
        self,
        site: SiteConfig,
        settings: Settings,
        latency: Callable[[float], None] | None = None,
        *,
        recover: bool = True,
    ) -> None:
        self.backlog_dir = settings.spool_path / "backlog"
        super().__init__(latency, Backlog(self.backlog_dir, self.memory_limit))

        self.site = site
        self.url = settings.store_url
        if self.url.startswith("sqlite:///"):
            Path(self.url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.store = Store.open(self.url, site=site.name)  # reads (the API); writes: the process
        self.process = StoreProcess(site, settings, background=True)
        self.recover = recover
        """Recover interrupted calls from stored events at start (not when a journal
        replays them)."""
        self.recovered = 0
        self.open_callbacks: list[Callback] = []
        self.unreadable = 0
        self._next_maintenance = 0.0
        self._lock = asyncio.Lock()
        self._poller: asyncio.Task[None] | None = None
        self._schema_error = ""

    @property
    def written(self) -> int:
        """Items the store process has written to the database."""
        return self.process.figures.written

    @property
    def backlog(self) -> Backlog:
        """The batches waiting for the store process."""
        return self._backlog

    async def start(self) -> None:
        """Start the store process; upgrade the embedded database, sync the directory,
        recover interrupted calls."""

        try:
            await self._in_thread(self.process.start)
            prepared = await self._in_thread(self.process.call, "prepare", self.recover)
        except StoreProcessError as exc:
            raise ServiceError(f"store: {exc}") from None
        self.recovered = prepared.recovered
        self.open_callbacks = prepared.open_callbacks
        self._schema_error = prepared.schema_error
        if self._schema_error:
            log.error("store: %s", self._schema_error)
        if self.recovered:
            log.warning(
                "store: %d calls cut short by the last stop stored as incomplete", self.recovered
            )
        await super().start()
        self._poller = asyncio.create_task(self._poll_forever(), name="callwatch-store-poll")

    def submit_message(self, packet: Packet, message: SipMessage) -> None:
        """Keep a raw SIP message for the ladder view: ``packet``, as the core parsed it.

        Queued as a tuple of the fields the store keeps, which pickles smaller and faster
        than objects."""
        held = self._open
        if not held:
            self._open_first = self.position
            self._wake.set()
        held.append(raw_fields(packet, message))
        if len(held) >= self.max_batch:
            self._seal()

    def seal(self, batch: list[Output | RawFields]) -> bytes:
        """The batch as the store process's ``write`` request, pickled now, on the loop's
        thread: the worker thread then only waits on the pipe and does not hold the
        interpreter lock while the HEP reader wants it, and the backlog is compact."""
        return self.process.encode("write", batch)

    async def deliver(self, batch: bytes) -> None:
        """Hand the request to the store process; returns once it is written or spooled.

        A request the process cannot read (a backlog record it cannot unpickle) is set
        aside in ``backlog/unreadable/``, logged and counted, instead of being retried
        forever."""

        try:
            await self._in_thread(self.process.send, batch)
        except StoreRequestUnreadable as exc:
            self.unreadable += 1
            aside = self.backlog_dir / "unreadable"
            aside.mkdir(parents=True, exist_ok=True)
            path = aside / f"{time.time_ns()}.request"
            path.write_bytes(batch)
            log.error("store: a queued batch could not be read (%s); kept in %s", exc, path)

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self._POLL_SECONDS)
            figures = self.process.figures
            if figures.spool_depth or figures.pending:
                try:
                    await self._in_thread(self.process.call, "poll")
                except Exception:
                    log.exception("store: spool replay failed")
            if time.monotonic() >= self._next_maintenance:
                self._next_maintenance = time.monotonic() + self._MAINTENANCE_SECONDS
                now = time.time_ns() // 1000  # purge and report schedules run on the wall clock
                try:
                    await self._in_thread(self.process.call, "maintain", now)
                except Exception:
                    log.exception("store: maintenance failed")

    async def _in_thread(self, fn: Callable[..., Any], *args: object) -> Any:
        async with self._lock:
            return await asyncio.to_thread(fn, *args)

    async def shutdown(self) -> None:
        """Have the store process write what it holds and try the spool once more; close."""
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        await self._in_thread(self.process.close)
        await self._in_thread(self.store.close)

    def status(self) -> PartStatus:
        """Ready when writing, or when spooling to disk while the database is away."""
        figures = self.process.figures
        depth = figures.spool_depth
        backlog = self._backlog
        extra: dict[str, object] = {
            "written": figures.written,
            "queued": self.pending(),
            "backlog_bytes": backlog.memory_bytes,
            "backlog_files": backlog.on_disk,
        }
        if self._schema_error:
            return PartStatus(False, self._schema_error, depth, extra)
        if self.last_error:
            return PartStatus(False, f"failing: {self.last_error}", depth, extra)
        if depth:
            return PartStatus(True, f"database away: spooling ({depth} batches)", depth, extra)
        return PartStatus(True, "writing", 0, extra)


class BusSink:
    """The MQTT publisher as a sink (see :mod:`callwatch.bus.publisher`)."""

    name = "mqtt"

    def __init__(self, site: SiteConfig, settings: Settings, *, drain_timeout: float = 10.0):

        spool_dir = settings.spool_path / "mqtt"
        spool_dir.mkdir(parents=True, exist_ok=True)
        assert settings.mqtt_url is not None
        published = PublishedLog(spool_dir / "published")
        self.publisher = Publisher(
            settings.mqtt_url,
            site,
            spool_dir=spool_dir,
            published=published,
            probe_callers=settings.probe_callers,
        )
        self.drain_timeout = drain_timeout
        self.position = 0

    async def start(self) -> None:
        """Start connecting (in the background; messages spool until it is up)."""
        await self.publisher.start()

    def submit(self, outputs: Sequence[Output]) -> None:
        """Queue the messages of ``outputs``."""
        self.publisher.submit(outputs, mark=self.position)

    def durable_through(self, latest: int) -> int:
        """See :class:`~callwatch.sinks.DurableSink`: PUBACKed or spooled counts."""
        oldest = self.publisher.volatile_mark()
        return latest if oldest is None else oldest - 1

    def checkpointed(self, position: int) -> None:
        """Forget the published breaches of records up to ``position``."""
        if self.publisher.published is not None:
            self.publisher.published.forget_through(position)

    def replaying(self, through: int) -> None:
        """Records up to ``through`` are replayed: skip the breaches published already."""
        self.publisher.replay_through = through

    async def close(self) -> None:
        """Send what waits (bounded by ``drain_timeout``; the rest stays spooled) and close."""
        await self.publisher.wait_idle(self.drain_timeout)
        await self.publisher.stop(drain_timeout=self.drain_timeout)

    def status(self) -> PartStatus:
        """Ready when connected, or spooling while the broker is away."""
        pub = self.publisher
        depth = pub.spool_depth
        extra: dict[str, object] = {"pending": pub.pending}
        if pub.connected:
            return PartStatus(True, f"connected to {pub.broker}", depth, extra)
        return PartStatus(True, f"broker away: spooling ({depth} messages)", depth, extra)


class Service:
    """The capture sources, the core chain and the sinks of one site."""

    def __init__(
        self,
        site: SiteConfig,
        settings: Settings,
        *,
        sinks: Sequence[Sink] = (),
        wall_clock: Callable[[], int] | None = None,
        journal: PacketJournal | None = None,
    ) -> None:
        self.site = site
        self.settings = settings
        self.pipeline = CallPipeline(site, clock=settings.capture_clock())
        self.journal = journal
        if journal is not None:
            journal.watermark = lambda: self.pipeline.watermark
        self.replayed = 0
        """Journal records replayed at start."""
        self._position = 0
        self._durable: list[DurableSink] = []
        self._history: deque[tuple[int, int | None]] = deque()  # (position, earliest held)
        self.sinks = list(sinks)
        self.sources: dict[str, CaptureStats] = {}
        self.metrics = Metrics(self.snapshot)
        self.hep_address: tuple[str, int] | None = None
        self._wall = wall_clock or (lambda: time.time_ns() // 1000)
        self._hep: HepListener | None = None
        self._sniffer: _Closable | None = None
        self._ami: AmiClient | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._stopped = False
        self._message_sinks: list[Callable[[Packet, SipMessage], None]] = []
        self.gc_watch = GcWatch()

    # -- the core ------------------------------------------------------------------------

    def on_packet(self, packet: Packet) -> None:
        """One SIP packet from any source: into the journal's buffer, then into the core.
        The source calls :meth:`end_of_batch` before it returns to the event loop."""
        if self.journal is not None:
            self._mark(self.journal.append_packet(packet))
        out = self.pipeline.push(packet)
        if out:
            self._emit(out)

    def end_of_batch(self) -> None:
        """A source handed all the packets of one read: write them to the journal."""
        if self.journal is not None:
            self.journal.flush()

    def _on_message(self, packet: Packet, message: SipMessage) -> None:
        """The core parsed ``packet``: hand it to the sinks that keep raw messages."""
        for keep in self._message_sinks:
            keep(packet, message)

    def _hand_messages(self, on: bool) -> None:
        """Have the core hand each message it parses to the sinks that keep raw messages
        (``on``; the one such sink directly), or to none (while a replay goes over records
        those sinks took already)."""
        sinks = self._message_sinks
        hook = None
        if on and sinks:
            hook = sinks[0] if len(sinks) == 1 else self._on_message
        self.pipeline.legs.on_message = hook

    def on_ami(self, event: AmiEvent) -> None:
        """One event from Asterisk's manager: into the journal, then into the core."""
        if self.journal is not None:
            self._mark(self.journal.append_ami(event))
            self.journal.flush()
        out = self.pipeline.push(event)
        if out:
            self._emit(out)

    def tick(self) -> None:
        """Hand the core the wall clock (the ticker calls this once a second); move the
        journal's checkpoint."""
        wall = self._wall()
        journal = self.journal
        if journal is not None:
            self._mark(journal.append_tick(wall))
            journal.flush()
        out = self.pipeline.advance(wall)
        if out:
            self._emit(out)
        if journal is not None:
            self._checkpoint(journal)

    def _mark(self, position: int) -> None:
        self._position = position
        for sink in self._durable:
            sink.position = position

    def _checkpoint(self, journal: PacketJournal) -> None:
        """Move the journal's checkpoint to the newest tick whose outputs every durable sink
        has taken for good; the pipeline's earliest held time at that tick bounds what the
        journal may delete."""
        latest = self._position
        history = self._history
        earliest = self.pipeline.earliest_held()
        if earliest:  # a manager event about a leg may be stamped a little before its INVITE
            earliest -= _HELD_MARGIN
        history.append((latest, earliest))
        durable = min((s.durable_through(latest) for s in self._durable), default=latest)
        best = None
        while history and history[0][0] <= durable:
            best = history.popleft()
        if best is None:
            return
        history.appendleft(best)  # still the best known until a later tick is taken
        position, earliest = best
        journal.checkpoint(position, earliest)
        for sink in self._durable:
            sink.checkpointed(position)

    async def _replay(self, journal: PacketJournal) -> None:
        """Feed the fresh pipeline what the journal kept; hand out the outputs of records
        after its checkpoint (those before were taken already)."""
        checkpoint = journal.checkpoint_position
        for sink in self._durable:
            sink.replaying(journal.found)
        pipe = self.pipeline
        handed = 0
        handing = True
        for position, record in journal.replay():
            self._mark(position)
            if handing != (position > checkpoint):
                handing = not handing
                self._hand_messages(handing)
            out = pipe.advance(record) if isinstance(record, int) else pipe.push(record)
            self.replayed += 1
            if position > checkpoint:
                handed += 1
                if out:
                    self._emit(out)
            if not self.replayed % 2000:
                await asyncio.sleep(0)  # let the sinks deliver
        self._hand_messages(True)
        if self.replayed:
            log.warning(
                "journal: replayed %d records (%d after the checkpoint at %d): %d calls open",
                self.replayed,
                handed,
                checkpoint,
                pipe.assembler.open_calls,
            )

    def _emit(self, out: list[Output]) -> None:
        tally = self.metrics.tally
        events = tally.events
        for item in out:
            if isinstance(item, LegEvent):
                kind = item.kind
                events[kind] = events.get(kind, 0) + 1
            elif isinstance(item, JudgedCall):
                complete = "true" if item.call.complete else "false"
                tally.calls[complete] = tally.calls.get(complete, 0) + 1
                tally.count_verdicts(item.verdicts)
            elif isinstance(item, CallbackNews):
                tally.count_verdicts(item.verdicts)
        n = len(out)
        items = tally.sink_items
        for sink in self.sinks:
            items[sink.name] = items.get(sink.name, 0) + n
            sink.submit(out)

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the sinks, bind the sources, start the ticker."""
        self.gc_watch.install()
        for sink in self.sinks:
            await sink.start()
            keep = getattr(sink, "submit_message", None)
            if keep is not None:
                self._message_sinks.append(keep)
            if isinstance(sink, StoreSink) and sink.open_callbacks:
                restored = self.pipeline.book.restore(sink.open_callbacks)
                log.info("restored %d open callbacks from the store", restored)
            if self.journal is not None and hasattr(sink, "durable_through"):
                self._durable.append(sink)  # type: ignore[arg-type]
        self._hand_messages(True)
        if self.journal is not None:
            await self._replay(self.journal)
            self.tick()  # the wall clock now, before the first live packet
        s = self.settings
        stats = self.sources.setdefault("hep", CaptureStats())
        try:
            transport, _ = await start_hep_listener(
                self.on_packet,
                s.hep_host,
                s.hep_port,
                allow=s.hep_allow,
                auth_key=s.hep_auth_key,
                stats=stats,
                on_batch_end=self.end_of_batch,
            )
        except OSError as exc:
            raise ServiceError(
                f"cannot listen for HEP on udp {s.hep_host}:{s.hep_port}: {exc.strerror or exc}"
            ) from None
        _grow_receive_buffer(transport)
        self._hep = transport
        self.hep_address = transport.get_extra_info("sockname")[:2]
        if s.interface:
            sniff_stats = self.sources.setdefault(f"interface:{s.interface}", CaptureStats())
            try:
                self._sniffer = await start_sniffer(
                    self.on_packet,
                    s.interface,
                    ports=s.sip_ports,
                    stats=sniff_stats,
                    on_batch_end=self.end_of_batch,
                )
            except SnifferError as exc:
                transport.close()
                raise ServiceError(str(exc)) from None
        if s.ami_url:
            if not (s.ami_user and s.ami_secret):
                transport.close()
                raise ServiceError(
                    "reading the manager (AMI) needs its read-only user: "
                    "set CALLWATCH_AMI_USER and CALLWATCH_AMI_SECRET"
                )
            self._ami = AmiClient(s.ami_url, s.ami_user, s.ami_secret, self.on_ami)
            await self._ami.start()
        self._ticker = asyncio.create_task(self._tick_forever(), name="callwatch-ticker")

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                self.tick()
            except Exception:  # a core bug must not stop the clock for every other call
                log.exception("tick failed")

    async def stop(self) -> None:
        """Close the sources, flush the core (open calls come out incomplete), drain sinks."""
        if self._stopped:
            return
        self._stopped = True
        if self._hep is not None:
            self._hep.close()
        if self._sniffer is not None:
            self._sniffer.close()
        if self._ami is not None:
            await self._ami.close()
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
        self.end_of_batch()
        out = self.pipeline.flush(self.pipeline.clock.advance(self._wall()))
        if out:
            self._emit(out)
        for sink in self.sinks:
            try:
                await sink.close()
            except Exception:
                log.exception("%s: close failed", sink.name)
        journal = self.journal
        if journal is not None:
            latest = self._position
            if all(s.durable_through(latest) >= latest for s in self._durable):
                journal.clear()  # everything taken for good, nothing left in the core
            else:
                log.error("journal: kept for the next start (a sink did not take everything)")
            journal.close()
        self.gc_watch.uninstall()

    # -- health --------------------------------------------------------------------------

    def readiness(self) -> dict[str, PartStatus]:
        """Each part's status: the HEP listener, the sniffer, every sink."""
        parts: dict[str, PartStatus] = {}
        if self._hep is None or self._hep.is_closing():
            parts["hep"] = PartStatus(False, "not listening")
        else:
            host, port = self.hep_address or ("?", 0)
            parts["hep"] = PartStatus(True, f"listening on udp {host}:{port}")
        if self.settings.interface:
            up = self._sniffer is not None and not self._sniffer.closed
            parts["interface"] = PartStatus(
                up, f"sniffing {self.settings.interface}" if up else "not sniffing"
            )
        if self._ami is not None:
            up, detail = self._ami.status()
            # Optional: while the manager is away the calls are read from SIP alone.
            parts["ami"] = PartStatus(True, detail if up else f"{detail} (SIP alone meanwhile)")
        if self.journal is not None:
            j = self.journal
            extra: dict[str, object] = {"segments": j.segments, "bytes": j.size}
            if j.errors:
                extra["errors"] = j.errors
            parts["journal"] = PartStatus(
                True, f"{j.segments} segments, checkpoint {j.checkpoint_position}", extra=extra
            )
        for sink in self.sinks:
            try:
                parts[sink.name] = sink.status()
            except Exception as exc:
                parts[sink.name] = PartStatus(False, f"status failed: {exc}")
        return parts

    def snapshot(self) -> Snapshot:
        """Figures for ``/metrics``, read from the parts themselves."""
        pipe = self.pipeline
        snap = Snapshot(
            sources=dict(self.sources),
            parse_errors=dict(pipe.legs.parse_errors),
            clock_refused=dict(pipe.clock.refused),
            dialogs_open=pipe.legs.tracker.open_legs(),
            calls_open=pipe.assembler.open_calls,
            callbacks_open=len(pipe.book.open_callbacks()),
            gc_pauses=self.gc_watch,
        )
        for name, source in (
            ("hep", self._hep),
            (f"interface:{self.settings.interface}", self._sniffer),
        ):
            n = source.kernel_drops() if source is not None else None
            if n is not None:
                snap.kernel_drops[name] = n
        for sink in self.sinks:
            if isinstance(sink, BatchSink):
                snap.sink_queued[sink.name] = sink.pending()
                snap.sink_failures[sink.name] = sink.failures
            with contextlib.suppress(Exception):
                snap.spool_depth[sink.name] = sink.status().spool_depth
            if isinstance(sink, StoreSink):
                snap.stored = sink.written
            elif isinstance(sink, BusSink):
                stats = sink.publisher.stats
                snap.broker_connected = sink.publisher.connected
                snap.published = dict(stats.published)
                snap.publish_dropped = stats.dropped
                snap.broker_latency = (LATENCY_BUCKETS, stats.latency_counts, stats.latency_sum)
        return snap

    @property
    def hep_protocol(self) -> HepProtocol | None:
        """The listener's protocol object (its stats are ``sources['hep']``)."""
        return self._hep.get_protocol() if self._hep is not None else None


async def run(
    service: Service,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[Service, tuple[str, int]], None] | None = None,
    api: ApiContext | None = None,
) -> None:
    """Run ``service`` and its HTTP server in the current loop until ``stop`` is set or the
    process gets SIGINT/SIGTERM; then stop the sources, flush the core, drain the sinks.

    ``on_ready`` is called with the service and the HTTP address once everything listens.
    Raises :class:`ServiceError` when a port cannot be bound or a source cannot open.
    """

    loop = asyncio.get_running_loop()
    stop = stop or asyncio.Event()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    s = service.settings
    try:
        http_sock = _bind_http(s.http_host, s.http_port)
    except OSError as exc:
        raise ServiceError(
            f"cannot listen for HTTP on tcp {s.http_host}:{s.http_port}: {exc.strerror or exc}"
        ) from None
    server: _Server | None = None
    server_task: asyncio.Task[None] | None = None
    try:
        await service.start()
        config = uvicorn.Config(
            create_app(service, api=api), log_level="warning", lifespan="off", access_log=False
        )
        server = _Server(config)
        server_task = asyncio.create_task(server.serve(sockets=[http_sock]), name="callwatch-http")
        while not server.started and not server_task.done():
            await asyncio.sleep(0.01)
        if server_task.done():
            raise ServiceError("the HTTP server stopped while starting")
        if on_ready is not None:
            on_ready(service, http_sock.getsockname()[:2])
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({stopped, server_task}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
    finally:
        await service.stop()
        if server is not None and server_task is not None:
            server.should_exit = True
            with contextlib.suppress(Exception):
                await server_task
        http_sock.close()
        for sig in handled:
            loop.remove_signal_handler(sig)


def serve(site: SiteConfig, settings: Settings) -> None:
    """``callwatch serve``: build the sinks the settings ask for and run until a signal."""
    try:
        journal = PacketJournal(settings.spool_path / "journal")
    except OSError as exc:
        raise ServiceError(f"journal {settings.spool_path / 'journal'}: {exc}") from None
    service = Service(site, settings, journal=journal)
    sinks, api = build_sinks(service)
    service.sinks.extend(sinks)

    def ready(svc: Service, http: tuple[str, int]) -> None:
        # What start-up built (modules, the web app, the site, the store's metadata) lives as
        # long as the process: out of the collector's sight, a full collection then scans
        # only what the running service holds, and stalls the HEP reader that much less.
        gc.collect()
        gc.freeze()
        hep_host, hep_port = svc.hep_address or ("?", 0)
        parts = ", ".join(f"{name}: {p.detail}" for name, p in svc.readiness().items())
        print(
            f"callwatch: serving {site.name}: HEP udp {hep_host}:{hep_port}, "
            f"HTTP http://{http[0]}:{http[1]}/ ({parts}; {core_build()} core)",
            file=sys.stderr,
            flush=True,
        )

    asyncio.run(run(service, api=api, on_ready=ready))
    print("callwatch: stopped; everything flushed", file=sys.stderr, flush=True)


def build_sinks(service: Service) -> tuple[list[Sink], ApiContext]:
    """The sinks ``service.settings`` asks for (the store and the live feed always, the broker
    when a URL is set) and the API's view of them: the store it reads, the live feed it
    streams, the running callback book."""
    site, settings = service.site, service.settings
    recover = service.journal is None or not service.journal.left  # else the replay does
    store = StoreSink(site, settings, service.metrics.store_latency.observe, recover=recover)
    live = LiveSink(site, probe_callers=settings.probe_callers)
    sinks: list[Sink] = [store]
    bus = BusSink(site, settings) if settings.mqtt_url else None
    if bus is not None:
        sinks.append(bus)
    sinks.append(live)
    try:  # [probes]: probe calls, first to close (a call in progress ends at once on stop)
        probes = probe_runner(
            site,
            store=store.store,
            publisher=bus.publisher if bus is not None else None,
            registry=service.metrics.registry,
        )
    except ProbeSetupError as exc:
        raise ServiceError(f"probes: {exc}") from None
    if probes is not None:
        sinks.insert(0, probes)
    api = ApiContext(
        store=store.store, site=site, live=live.broadcaster, book=service.pipeline.book
    )
    return sinks, api


def _bind_http(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
        sock.setblocking(False)
    except OSError:
        sock.close()
        raise
    return sock


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handlers: the service owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _Closable(Protocol):
    closed: bool

    def close(self) -> None: ...

    def kernel_drops(self) -> int | None: ...


def _grow_receive_buffer(transport: HepListener) -> None:
    """Ask for a large socket receive buffer so bursts wait in the kernel, not on the floor."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    for option in (_SO_RCVBUFFORCE, socket.SO_RCVBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, option, _RCVBUF)
            return
        except OSError:
            continue
