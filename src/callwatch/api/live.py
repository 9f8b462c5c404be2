"""The live feed: an in-process broadcaster of events and breaches for ``/api/live`` (SSE).

The running service publishes each batch of pipeline outputs once, through :class:`LiveSink`
(one of its sinks; ``submit`` is the single call per output batch). The broadcaster turns them
into the bus's ``event`` and ``breach`` records (:class:`callwatch.bus.payloads.PayloadBuilder`,
numbers revealed: masking is per subscriber; taken as records, never written as JSON and read
back) and puts each into the bounded queue of every
subscriber that wants it. A full queue drops the item for that subscriber and counts it
(``dropped``); publishing never waits, so a slow browser never holds up the pipeline.

Each item carries the payload's ``tag`` (null: a staff call; ``probe``: callwatch's own probe
call, see :mod:`callwatch.bus.payloads`). A listener gets the staff's items unless it asks for
the probe calls' (``tags``): probe calls never count against staff.

Besides those, for the wallboard: ``call`` (a judged call, what today's figures count),
``callback`` (a callback opened, kept, late or missed) and ``ringing`` (the calls ringing in a
department now, a whole list each time it changes: :mod:`callwatch.api.ringing`).

Catch-up: every item published gets the next sequence number, and its SSE id is
``<epoch>-<seq>`` (the epoch is made when the broadcaster starts). The last ``replay_size``
items are kept, so a listener that comes back with the id of the last item it read
(``Last-Event-ID``) gets what it missed first, then the live items, nothing twice. When that
cannot be done (another epoch: the service restarted; items older than the buffer; items not
built while no one listened) the subscription says so (``gap``) and the stream sends a
``reset`` message: the reader starts again from the pages or the API. Items are built while a
listener is connected and for ``REPLAY_SECONDS`` after the last one left (or after a page that
will listen was served, :meth:`Broadcaster.touch`).

Everything here runs on the service's event loop: :meth:`Broadcaster.publish` must be called
from the loop thread (as sinks are).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import deque
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from callwatch.api.ringing import RingingBoard
from callwatch.bus.payloads import PayloadBuilder
from callwatch.charter.callbacks import Callback
from callwatch.pipeline import CallbackNews, JudgedCall, Output
from callwatch.probe.tagging import PROBE_TAG, call_tag, is_probe_call_id
from callwatch.sinks import PartStatus
from callwatch.sip.events import LegEvent
from callwatch.site import SiteConfig

LiveKind = Literal["event", "breach", "call", "callback", "ringing"]
LIVE_KINDS: tuple[LiveKind, ...] = ("event", "breach")
"""What ``/api/live`` sends when no ``kinds`` are asked for."""
ALL_KINDS: tuple[LiveKind, ...] = ("event", "breach", "call", "callback", "ringing")
STAFF: frozenset[str | None] = frozenset([None])
"""The tags a listener gets by default: the staff's calls only (untagged)."""
DEFAULT_QUEUE = 256
DEFAULT_REPLAY = 2048
REPLAY_SECONDS = 600.0

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class LiveItem:
    """One item of the feed: its kind, stable id, department and payload (numbers shown);
    ``seq`` is its number in the broadcaster's order (0 until published)."""

    kind: LiveKind
    id: str
    department: str | None
    payload: dict[str, Any]
    tag: str | None = None
    seq: int = 0


@dataclass(eq=False)
class Subscription:
    """One listener: what it wants, its bounded queue and how much it lost; ``backlog`` the
    items it missed before it subscribed (a resumed stream), ``gap`` whether some could not be
    given back."""

    departments: frozenset[str] | None
    kinds: frozenset[str]
    queue: asyncio.Queue[LiveItem]
    dropped: int = 0
    backlog: list[LiveItem] = field(default_factory=list)
    gap: bool = False
    _owner: Broadcaster | None = field(default=None, repr=False)
    tags: frozenset[str | None] = STAFF

    def wants(self, item: LiveItem) -> bool:
        """Whether ``item`` is of a kind, tag and department this listener asked for."""
        if item.kind not in self.kinds or item.tag not in self.tags:
            return False
        return self.departments is None or item.department in self.departments

    def close(self) -> None:
        """Stop receiving (idempotent)."""
        if self._owner is not None:
            self._owner._unsubscribed(self)
            self._owner = None

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class Broadcaster:
    """Fans feed items out to subscribers' bounded queues; never blocks the publisher.
    ``probe_callers`` are the probe's numbers (the setting ``probe_user``): their calls are
    tagged ``probe``."""

    def __init__(
        self,
        site: SiteConfig | None = None,
        *,
        queue_size: int = DEFAULT_QUEUE,
        replay_size: int = DEFAULT_REPLAY,
        clock: Callable[[], float] = time.monotonic,
        probe_callers: Collection[str] = (),
    ) -> None:
        if queue_size < 1:
            raise ValueError("queue_size must be at least 1")
        self.queue_size = queue_size
        self.published = 0
        self.dropped = 0
        self.epoch = secrets.token_hex(4)
        self.seq = 0
        self._replay: deque[LiveItem] = deque(maxlen=max(replay_size, 1))
        self._clock = clock
        self._wanted_until = float("-inf")
        self._hole = False
        self._subscribers: set[Subscription] = set()
        self._builder: PayloadBuilder | None = None
        self.ringing: RingingBoard | None = None
        self._probe_callers = frozenset(probe_callers)
        if site is not None:
            self._builder = PayloadBuilder(
                site, reveal_numbers=True, probe_callers=self._probe_callers
            )
            self.ringing = RingingBoard(site.directory)

    @property
    def last_event_id(self) -> str:
        """The SSE id of the latest item (``<epoch>-<seq>``): where a new reader starts."""
        return f"{self.epoch}-{self.seq}"

    def event_id(self, item: LiveItem) -> str:
        """The SSE id of a published ``item``."""
        return f"{self.epoch}-{item.seq}"

    def touch(self) -> None:
        """Someone will listen soon (a page was served): build items from now on."""
        self._wanted_until = max(self._wanted_until, self._clock() + REPLAY_SECONDS)

    @property
    def subscribers(self) -> int:
        """How many listeners are connected."""
        return len(self._subscribers)

    def subscribe(
        self,
        departments: Iterable[str] | None = None,
        kinds: Iterable[str] = LIVE_KINDS,
        tags: Iterable[str | None] = STAFF,
        after: str | None = None,
    ) -> Subscription:
        """A new listener for ``kinds`` of ``departments`` (None: every department) of the
        calls ``tags`` names (None: the staff's; ``probe``: callwatch's probe calls); with
        ``after`` (the SSE id of the last item a reader had), the items it missed since."""
        sub = Subscription(
            None if departments is None else frozenset(departments),
            frozenset(kinds),
            asyncio.Queue(self.queue_size),
            _owner=self,
            tags=frozenset(tags),
        )
        if after is not None:
            sub.backlog, sub.gap = self._since(after, sub)
        self._subscribers.add(sub)
        self.touch()
        return sub

    def _since(self, after: str, sub: Subscription) -> tuple[list[LiveItem], bool]:
        epoch, _, number = after.strip().rpartition("-")
        try:
            seq = int(number)
        except ValueError:
            return [], True
        if epoch != self.epoch or seq > self.seq:
            return [], True
        oldest = self._replay[0].seq if self._replay else self.seq + 1
        missed = [i for i in self._replay if i.seq > seq and sub.wants(i)]
        return missed, seq < oldest - 1

    def _unsubscribed(self, sub: Subscription) -> None:
        self._subscribers.discard(sub)
        self.touch()  # it may come back: keep building for a while

    def publish(self, item: LiveItem) -> int:
        """Give ``item`` the next sequence number, keep it for catch-up and offer it to every
        listener that wants it; return how many took it."""
        self.published += 1
        self.seq += 1
        item = replace(item, seq=self.seq)
        self._replay.append(item)
        taken = 0
        for sub in tuple(self._subscribers):
            if not sub.wants(item):
                continue
            try:
                sub.queue.put_nowait(item)
                taken += 1
            except asyncio.QueueFull:
                sub.dropped += 1
                self.dropped += 1
        return taken

    def publish_outputs(self, outputs: Sequence[Output]) -> int:
        """Publish the items of a batch of pipeline outputs (nothing is built while no one
        listens or may come back: those items leave a gap); return how many were published."""
        if self._builder is None:
            return 0
        if not self._subscribers and self._clock() > self._wanted_until:
            self._skip(outputs)
            return 0
        if self._hole:  # what was not built cannot be caught up with
            self._hole = False
            self._replay.clear()
            self.seq += 1
        count = 0
        for output in outputs:
            for item in self._items(output):
                self.publish(item)
                count += 1
        return count

    def _skip(self, outputs: Sequence[Output]) -> None:
        if self.ringing is not None:
            for output in outputs:
                if isinstance(output, LegEvent):
                    self.ringing.feed(output)
        self._hole = self._hole or bool(outputs)

    def _items(self, output: Output) -> Iterator[LiveItem]:
        tag = None
        if isinstance(output, JudgedCall):
            tag = call_tag(output.call, self._probe_callers)
        elif isinstance(output, CallbackNews):
            tag = self._callback_tag(output.callback)
        assert self._builder is not None
        for body in self._builder.bodies([output]):
            if body.kind not in ("event", "breach"):
                continue
            payload = body.builtins()
            if body.kind == "breach":
                payload |= self._breach_extra(output, tag)
            dept = payload.get("department")
            yield LiveItem(body.kind, body.id, dept, payload, payload.get("tag"))
        if isinstance(output, JudgedCall):
            yield _call_item(output, tag)
        elif isinstance(output, CallbackNews):
            yield _callback_item(output.callback, tag)
        elif isinstance(output, LegEvent) and self.ringing is not None:
            for dept in self.ringing.feed(output):
                calls = self.ringing.calls(dept)
                ident = f"ringing:{dept}:{output.at}"
                payload = {"id": ident, "department": dept, "calls": calls}
                yield LiveItem("ringing", ident, dept, payload)

    def _callback_tag(self, cb: Callback) -> str | None:
        if cb.number in self._probe_callers or is_probe_call_id(cb.call):
            return PROBE_TAG
        return None

    @staticmethod
    def _breach_extra(output: Output, tag: str | None) -> dict[str, Any]:
        if isinstance(output, JudgedCall):
            call = output.call
            return {"extension": call.answered_by, "at_us": call.started_at, "tag": tag}
        if isinstance(output, CallbackNews):
            cb = output.callback
            return {"extension": cb.by, "at_us": cb.opened_at, "tag": tag}
        return {"tag": tag}


def _call_item(judged: JudgedCall, tag: str | None) -> LiveItem:
    """A judged call as today's figures count it: inbound or not, answered within the
    charter's rings (the answer rule's verdict; None when it was not judged), breaches."""
    call = judged.call
    answer = [v.ok for v in judged.verdicts if v.rule == "answer"]
    payload = {
        "id": call.id,
        "call": call.id,
        "department": call.department,
        "direction": call.direction,
        "tag": tag,
        "started_us": call.started_at,
        "answered_in_rings": answer[0] if answer else None,
        "breaches": sum(1 for v in judged.verdicts if not v.ok),
    }
    return LiveItem("call", call.id, call.department, payload, tag)


def _callback_item(cb: Callback, tag: str | None) -> LiveItem:
    """A callback's state: waiting (``open``, or ``missed`` and still not called back) or
    closed (``kept``, ``late``)."""
    ident = f"{cb.call}:callback:{cb.status}"
    payload = {
        "id": ident,
        "call": cb.call,
        "department": cb.department,
        "caller": cb.number,
        "status": cb.status,
        "tag": tag,
        "opened_us": cb.opened_at,
        "due_us": cb.due_at,
        "called_back_us": cb.called_back_at,
        "by": cb.by,
    }
    return LiveItem("callback", ident, cb.department, payload, tag)


class LiveSink:
    """The broadcaster as one of the service's sinks (see :class:`callwatch.sinks.Sink`)."""

    name = "live"

    def __init__(
        self,
        site: SiteConfig,
        *,
        queue_size: int = DEFAULT_QUEUE,
        probe_callers: Collection[str] = (),
    ) -> None:
        self.broadcaster = Broadcaster(site, queue_size=queue_size, probe_callers=probe_callers)

    async def start(self) -> None:
        """Nothing to connect."""

    def submit(self, outputs: Sequence[Output]) -> None:
        """Publish ``outputs`` to the listeners (never blocks, never raises)."""
        try:
            self.broadcaster.publish_outputs(outputs)
        except Exception:  # a feed bug must never stop the pipeline or the other sinks
            log.exception("live feed: publishing failed")

    async def close(self) -> None:
        """Nothing to drain: the catch-up buffer lives as long as the process."""

    def status(self) -> Any:
        """Always ready; listeners and dropped items in the details."""

        b = self.broadcaster
        return PartStatus(
            True,
            f"{b.subscribers} listening",
            extra={"published": b.published, "dropped": b.dropped},
        )
