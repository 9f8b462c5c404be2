"""The store writer in a process of its own, so database work never shares the capture's GIL.

Why: in one process, a writer thread busy turning a batch into rows holds the interpreter lock
for milliseconds at a time, and the event loop waits for it after every socket call; the HEP
listener then drops datagrams long before the core is saturated. A child process has its own
interpreter: the loop only pickles each batch (about a tenth of the writer's work).

Theory of operation:

* :class:`StoreProcess` starts one child (``python -m callwatch.store_process FD``: a fresh
  interpreter that inherits nothing of the parent's threads or sockets but one end of a socket
  pair) and talks to it over that pair, one request at a time: the
  parent sends ``(method, args)``, the child runs it on its :class:`_Backend` (a
  :class:`~callwatch.store.StoreWriter` with its spool, a
  :class:`~callwatch.diskqueue.DurableQueue` in ``SPOOL/store``, and the maintenance jobs)
  and answers ``(ok, result, stats)``; ``ok`` is None for a request it could not unpickle
  (:class:`StoreRequestUnreadable`: retrying it cannot help).
* A ``write`` carries the pipeline's outputs and the raw SIP messages for the ladder view as
  :data:`RawFields`: the fields of a :class:`~callwatch.store.RawMessage` taken from the
  message the core parsed (:func:`raw_fields`), so the child never parses SIP.
* Nothing is lost: a batch is answered only once the writer wrote it or appended it to the
  on-disk spool (or, spool full, refused it: the caller keeps it and retries). If the child dies
  mid-batch, the call raises :class:`StoreProcessError`, the caller keeps the batch, and the
  next call starts a new child on the same spool directory; a batch written twice that way is
  absorbed by the store's idempotent upserts.
* The child ignores SIGINT and SIGTERM (a terminal's Ctrl-C reaches the whole process group):
  the parent decides when it stops, by :meth:`StoreProcess.close` (write what is held, try the
  spool once more). When the parent vanishes, the pipe's end of file does the same.
* One child at a time owns the spool: it holds an exclusive ``flock`` on ``store/lock``. A
  child left behind by a parent killed with -9 finishes its close first; the next one waits
  for it (up to the start timeout) instead of writing the same spool at the same time.
"""

from __future__ import annotations

import fcntl
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from typing import Any

from callwatch.charter.callbacks import Callback
from callwatch.diskqueue import DurableQueue
from callwatch.maintenance import Maintenance
from callwatch.packet import Address, Packet
from callwatch.pipeline import Output
from callwatch.settings import Settings
from callwatch.sip.message import SipMessage
from callwatch.site import SiteConfig
from callwatch.store import RawMessage, Store, StoreError, StoreWriter, recover_interrupted
from callwatch.store.codec import StoreItem

log = logging.getLogger(__name__)

_START_TIMEOUT = 60.0

RawFields = tuple[int, Address, Address, str, bytes, str, str | None]
"""A raw SIP message on its way to the store process: capture time, source, destination,
transport, payload, Call-ID and From tag, as the core parsed them. The child makes the
:class:`RawMessage` (the text from the payload, the leg key from Call-ID and tag), so the
parent's loop does as little as it can."""


def raw_fields(packet: Packet, message: SipMessage) -> RawFields:
    """What the store keeps of ``packet``, which the core parsed as ``message``."""
    p = packet
    return (p.ts, p.src, p.dst, p.transport, p.payload, message.call_id, message.from_.tag)


def store_items(batch: list[Output | RawFields]) -> list[StoreItem]:
    """A ``write`` request's batch as the store takes it: raw fields made into
    :class:`RawMessage`, outputs as they are."""
    items: list[StoreItem] = []
    for item in batch:
        if isinstance(item, tuple):
            at, src, dst, transport, payload, call_id, tag = item
            text = payload.decode("utf-8", "replace")
            leg = f"{call_id};{tag or ''}"  # as RawMessage.captured names it
            items.append(RawMessage(at, src, dst, transport, call_id, text, leg))
        else:
            items.append(item)
    return items


class StoreProcessError(Exception):
    """The store process failed a request, died, or did not start."""


class StoreRequestUnreadable(StoreProcessError):
    """The store process could not unpickle a request: retrying it cannot help."""


@dataclass(slots=True)
class StoreFigures:
    """What the child reports with every answer (for ``/readyz`` and ``/metrics``)."""

    written: int = 0
    spooled: int = 0
    spool_depth: int = 0
    pending: int = 0
    failures: int = 0
    rejected: int = 0
    refused: int = 0


@dataclass(slots=True)
class Prepared:
    """The outcome of :meth:`_Backend.prepare`: calls recovered, open callbacks, schema."""

    recovered: int = 0
    open_callbacks: list[Callback] = field(default_factory=list)
    schema_error: str = ""


class StoreProcess:
    """A blocking client of the store child; call it from one thread at a time.

    ``background``: the child runs at the lowest CPU priority (see :func:`_run_in_background`).
    """

    def __init__(self, site: SiteConfig, settings: Settings, *, background: bool = False) -> None:
        self.site = site
        self.settings = settings
        self.background = background
        self.figures = StoreFigures()
        self.restarts = 0
        self._proc: subprocess.Popen[bytes] | None = None
        self._started = False
        self._conn: Connection | None = None

    @property
    def pid(self) -> int | None:
        """The child's process id while it runs."""
        return self._proc.pid if self.alive and self._proc is not None else None

    @property
    def alive(self) -> bool:
        """True while the child runs."""
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> None:
        """Spawn the child and wait until its store and spool are open."""
        ours, theirs = socket.socketpair()
        with theirs:
            fd = theirs.fileno()
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "callwatch.store_process", str(fd)], pass_fds=(fd,)
            )
        self._conn = parent = Connection(ours.detach())
        level = logging.getLogger().getEffectiveLevel()
        opening = (self.site, self.settings, level, self.background)
        parent.send_bytes(pickle.dumps(opening, protocol=pickle.HIGHEST_PROTOCOL))
        if not parent.poll(_START_TIMEOUT):
            self._kill()
            raise StoreProcessError("the store process did not start")
        self._started = True
        self._answer()

    def call(self, method: str, *args: object) -> Any:
        """Run ``method`` in the child and return its result; raises
        :class:`StoreProcessError` when it failed (the child is restarted on the next call)."""
        return self.send(self.encode(method, *args))

    @staticmethod
    def encode(method: str, *args: object) -> bytes:
        """A request for :meth:`send`: the pickling, CPU work, apart from the waiting, so a
        caller can do it on its own thread and leave only the pipe to a worker thread."""
        return pickle.dumps((method, args), protocol=pickle.HIGHEST_PROTOCOL)

    def send(self, request: bytes) -> Any:
        """Run a request made by :meth:`encode` in the child; return its result (as ``call``)."""
        if not self.alive:
            if self._started:
                self._kill()
                self.restarts += 1
                log.error("store process gone; starting a new one on the same spool")
            self.start()
        assert self._conn is not None
        try:
            self._conn.send_bytes(request)
        except (OSError, ValueError) as exc:
            self._kill()
            raise StoreProcessError(f"store process unreachable: {exc}") from None
        return self._answer()

    def close(self) -> None:
        """Have the child write what it holds and exit; wait for it."""
        if self.alive:
            try:
                self.call("close")
            except StoreProcessError as exc:
                log.error("store process: %s", exc)
        if self._proc is not None:
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                log.error("store process: still busy after close; killing it")
        self._kill()

    def _answer(self) -> Any:
        assert self._conn is not None
        try:
            ok, result, figures = pickle.loads(self._conn.recv_bytes())
        except (EOFError, OSError) as exc:
            self._kill()
            raise StoreProcessError(f"store process died: {str(exc) or 'end of pipe'}") from None
        self.figures = figures
        if ok is None:
            raise StoreRequestUnreadable(result)
        if not ok:
            raise StoreProcessError(result)
        return result

    def _kill(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait()
            self._proc = None


class _Backend:
    """What the child holds: the writer, its spool and the maintenance jobs."""

    def __init__(self, site: SiteConfig, settings: Settings) -> None:

        self.site = site
        self.url = settings.store_url
        self.store = Store.open(self.url, site=site.name, probe_callers=settings.probe_callers)
        spool_dir = settings.spool_path / "store"
        spool_dir.mkdir(parents=True, exist_ok=True)
        self._lock = os.open(spool_dir / "lock", os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._lock, fcntl.LOCK_EX)  # held until this process exits
        spool = DurableQueue(spool_dir, fsync=True)
        self.writer = StoreWriter(self.store, spool, profiles=site.profiles)
        self.maintenance = Maintenance.for_site(
            self.store,
            site,
            retention_days=settings.message_retention_days,
            data_dir=settings.data_dir,
        )

    def figures(self) -> StoreFigures:
        s = self.writer.stats
        return StoreFigures(
            s.written,
            s.spooled,
            self.writer.spool.depth,
            self.writer.pending,
            s.failures,
            s.rejected,
            s.refused,
        )

    def prepare(self, recover: bool = True) -> Prepared:
        """Upgrade the embedded database, sync the directory, recover interrupted calls
        (unless ``recover`` is False: the service's journal replays them)."""

        try:
            if self.url.startswith("sqlite"):
                self.store.upgrade()
            elif self.store.revision() is None:
                return Prepared(
                    schema_error="the database has no schema: run 'callwatch db upgrade'"
                )
            self.store.sync_directory(self.site)
            recovered = len(recover_interrupted(self.store, self.site)) if recover else 0
            return Prepared(recovered, self.store.callbacks(status="open"))
        except StoreError as exc:  # unreachable now: the writer spools until it returns
            log.warning("store: not reachable at start (%s); spooling until it is", exc)
            return Prepared()

    def write(self, batch: list[Output | RawFields]) -> None:
        """Write (or spool) a batch of outputs and raw messages."""
        self.writer.add(store_items(batch))
        self.writer.flush()

    def poll(self) -> None:
        """Write what waited too long; retry the spool."""
        self.writer.poll()

    def maintain(self, now: int) -> None:
        """One pass of the purge and report jobs at wall-clock ``now`` (µs)."""
        self.maintenance.run_once(now)

    def close(self) -> None:
        """Write what is held, try the spool once more, close the pool."""
        self.writer.close()
        self.store.close()


def _run_in_background() -> None:
    """Lower this process to the lowest CPU priority: Linux ``SCHED_IDLE``, else nice 19.

    Why: capture cannot wait (the kernel drops what is not read in time); the store can (its
    backlog waits in memory and files). Under ``SCHED_IDLE`` the store runs on CPU time no
    other task wants, so it never delays the capture process's reader, nor the PBX; on a box
    with a spare core it still gets that whole core. Measured under ``bench/live.py``'s load
    on 2 cores, 30 s at 20,000 HEP packets/s (``/proc/PID/schedstat``): at nice 10 the
    capture thread waited for a CPU 8 % of the time, under ``SCHED_IDLE`` 1.5 %, and the
    store ran as long.
    """
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    except (AttributeError, OSError) as exc:  # not Linux, or a seccomp profile refusing it
        log.info("store: SCHED_IDLE not available (%s); running at nice 19", exc)
        os.nice(19)


def _child_main(fd: int) -> None:
    """The child's loop: one request, one answer, until ``close`` or the pipe's end."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    conn = Connection(fd)
    try:
        site, settings, level, background = pickle.loads(conn.recv_bytes())
    except (EOFError, OSError):
        return
    logging.basicConfig(level=level, format="callwatch store: %(levelname)s %(message)s")
    if background:
        _run_in_background()
    try:
        backend = _Backend(site, settings)
    except Exception as exc:
        conn.send_bytes(pickle.dumps((False, f"cannot open the store: {exc}", StoreFigures())))
        return
    conn.send_bytes(pickle.dumps((True, None, backend.figures())))
    while True:
        try:
            request = conn.recv_bytes()
        except (EOFError, OSError):
            backend.close()  # the parent is gone: keep what we hold
            return
        try:
            method, args = pickle.loads(request)
        except Exception as exc:  # made by another build: say so, never retry it
            reply: tuple[bool | None, Any, StoreFigures] = (
                None,
                f"{type(exc).__name__}: {exc}",
                backend.figures(),
            )
            conn.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
            continue
        try:
            result = getattr(backend, method)(*args)
            reply = (True, result, backend.figures())
        except Exception as exc:
            reply = (False, f"{type(exc).__name__}: {exc}", backend.figures())
        conn.send_bytes(pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL))
        if method == "close":
            return


if __name__ == "__main__":  # run as a module: pickles must name the real module, not __main__
    from callwatch.store_process import _child_main as child_main

    child_main(int(sys.argv[1]))
