"""JSON payloads of the bus: what each pipeline output becomes on which topic.

Every payload is a UTF-8 JSON object (Korean kept as is) of the record schema
(:mod:`callwatch.records.schema`, version ``v``; the JSON Schema of each kind is in
``docs/schema/``) with a stable ``id``: the same happening always gets the same id, so a
consumer drops a QoS 1 redelivery by remembering the ids it has seen.

========== ================================== ==================================================
kind       id                                 body
========== ================================== ==================================================
event      ``<leg>:<event kind>:<at µs>``     the event record (``callwatch ingest --events``)
breach     ``<call>:<rule>:<n>``              one failed verdict (``n`` counts verdicts of the
                                              rule within the call: the transfer index)
breach     ``<call>:callback:<status>``       a failed callback verdict (``missed``, ``late``)
call       ``<call>``                         the judged call's full record (``CallPayload``)
callback   ``<call>:callback:<status>``       callback news' full record (``CallbackPayload``)
monitoring ``<probe Call-ID>:<alert|clear>``  a probe call the capture did not confirm, or the
                                              next good one (``callwatch.probe.alerts``)
========== ================================== ==================================================

Probe calls (callwatch's own test calls, :mod:`callwatch.probe`) never count against staff,
so their breaches are not published as staff breaches: they go to
``callwatch/<site>/monitoring/breaches/<department>`` (beside the monitoring alerts, never
under ``.../breaches/#``). Every ``event`` and ``breach`` payload has a ``tag``: null for a
staff call, ``"probe"`` for a probe call. A call is a probe call when one of its legs has a
probe's Call-ID or its caller is the probe's number (the setting ``probe_user``,
:func:`callwatch.probe.tagging.call_tag`); a leg's events are tagged when the leg is the
probe's own (its Call-ID) or comes from the probe's number (the PBX's legs to the phones carry
the probe's number when ``probe_user`` is set); callback news of a probe call is
tagged by the probe's number or by the probe call this builder saw judged.

Numbers: ``event`` and ``breach`` payloads show a party that is not the office's own
(extension or department number) masked by :func:`callwatch.privacy.mask_number`, and carry
only the site's correlation headers, unless ``reveal_numbers`` is set. ``call`` and
``callback`` payloads are for workers that store them, and carry the numbers unmasked.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import msgspec

from callwatch.bus.topics import Topics, event_department
from callwatch.charter.callbacks import Callback
from callwatch.charter.verdict import Verdict
from callwatch.pipeline import CallbackNews, JudgedCall, Output
from callwatch.privacy import mask_party
from callwatch.probe.tagging import PROBE_TAG, call_tag, is_probe_call_id
from callwatch.records import call_payload, callback_payload, event_builtins
from callwatch.records.schema import VERSION, Breach
from callwatch.sip.events import LegEvent
from callwatch.site import SiteConfig
from callwatch.timefmt import iso

Kind = Literal["event", "breach", "call", "callback", "status", "monitoring"]
KINDS: tuple[Kind, ...] = ("event", "breach", "call", "callback", "status", "monitoring")

_LEG_CACHE = 4096
_URI_USER = re.compile(r"((?:sips?|tel):)([^@;>?]+)")
_SIDES = ("caller", "callee")


@dataclass(frozen=True, slots=True)
class Message:
    """One MQTT publish: where, what, and the payload's id (for counters and de-duplication)."""

    kind: Kind
    topic: str
    payload: str
    id: str
    qos: int = 1
    retain: bool = False
    queued_at: float = field(default=0.0, compare=False)
    """Wall-clock time (s) the publisher took the message in; for the latency histogram."""
    mark: int = field(default=0, compare=False)
    """The service's journal position of the record whose output this is (0: none)."""


@dataclass(frozen=True, slots=True)
class Body:
    """One payload before it is JSON: its kind, topic and id, and the record (an event's
    dict, a :class:`~callwatch.records.schema.Breach`, a full call or callback record)."""

    kind: Kind
    topic: str
    id: str
    record: Any

    def builtins(self) -> dict[str, Any]:
        """The payload as a JSON-ready dict (what :meth:`PayloadBuilder.build` writes)."""
        if isinstance(self.record, dict):
            return self.record
        return cast(dict[str, Any], msgspec.to_builtins(self.record))


_ENCODE = msgspec.json.Encoder().encode


def dumps(obj: dict[str, Any]) -> str:
    """Compact UTF-8 JSON text (Korean kept as is)."""
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def encode(record: Any) -> str:
    """A payload's record as compact UTF-8 JSON text."""
    return _ENCODE(record).decode()


class PayloadBuilder:
    """Turns pipeline outputs into bus messages for one site.

    ``events`` and ``breaches`` choose the public topics; ``calls`` adds the lossless
    ``calls``/``callbacks`` topics that workers store. A leg's department (and whether it is
    a probe's) is decided on its first event and kept for its later ones (a bounded memory of
    recent legs), so every event of a leg lands on one topic with one tag. ``probe_callers``
    are the probe's numbers (the setting ``probe_user``; none by default).
    """

    def __init__(
        self,
        site: SiteConfig,
        *,
        events: bool = True,
        breaches: bool = True,
        calls: bool = False,
        reveal_numbers: bool = False,
        probe_callers: Collection[str] = (),
    ) -> None:
        self.site = site
        self.topics = Topics(site.name)
        self.events = events
        self.breaches = breaches
        self.calls = calls
        self.reveal_numbers = reveal_numbers
        self._directory = site.directory
        self._correlation = {h.lower() for h in site.correlation_headers}
        self.probe_callers = frozenset(probe_callers)
        self._legs: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
        self._probe_calls: OrderedDict[str, None] = OrderedDict()

    def build(self, outputs: Iterable[Output]) -> Iterator[Message]:
        """The messages of ``outputs``, in order."""
        for body in self.bodies(outputs):
            yield Message(body.kind, body.topic, encode(body.record), body.id)

    def bodies(self, outputs: Iterable[Output]) -> Iterator[Body]:
        """The payloads of ``outputs`` as records, in order (:meth:`build` writes them)."""
        for item in outputs:
            if isinstance(item, LegEvent):
                if self.events:
                    yield self.event(item)
            elif isinstance(item, JudgedCall):
                if self.breaches:
                    yield from self.call_breaches(item)
                if self.calls:
                    call = item.call
                    full = call_payload(item, ident=call.id, site=self.site.name)
                    yield Body("call", self.topics.calls(call.department), call.id, full)
            elif isinstance(item, CallbackNews):
                if self.breaches:
                    yield from self.callback_breaches(item)
                if self.calls:
                    cb = item.callback
                    ident = f"{cb.call}:callback:{cb.status}"
                    news = callback_payload(item, ident=ident, site=self.site.name)
                    yield Body("callback", self.topics.callbacks(cb.department), ident, news)

    def event(self, event: LegEvent) -> Body:
        """The ``events`` payload of one leg event."""
        dept, tag = self._leg_department(event)
        body = event_builtins(event)
        if not self.reveal_numbers:
            self._mask_event(body)
        ident = f"{event.leg}:{event.kind}:{event.at}"
        payload = {
            "v": VERSION,
            "id": ident,
            "site": self.site.name,
            "department": dept,
            **body,
            "tag": tag,
        }
        return Body("event", self.topics.events(dept), ident, payload)

    def call_breaches(self, judged: JudgedCall) -> Iterator[Body]:
        """One ``breaches`` payload per failed verdict of a judged call."""
        call = judged.call
        tag = call_tag(call, self.probe_callers)
        if tag is not None:
            self._remember_probe(call.id)
        seen: dict[str, int] = {}
        for verdict in judged.verdicts:
            index = seen.get(verdict.rule, 0)
            seen[verdict.rule] = index + 1
            if verdict.ok:
                continue
            ident = f"{call.id}:{verdict.rule}:{index}"
            extra = {
                "direction": call.direction,
                "started_at": iso(call.started_at),
                "ended_at": None if call.ended_at is None else iso(call.ended_at),
                "at": iso(call.started_at),
            }
            yield self._breach(ident, call.id, call.department, call.caller, verdict, extra, tag)

    def callback_breaches(self, news: CallbackNews) -> Iterator[Body]:
        """One ``breaches`` payload per failed verdict of callback news."""
        cb = news.callback
        probe = cb.number in self.probe_callers or cb.call in self._probe_calls
        tag = PROBE_TAG if probe else None
        for verdict in news.verdicts:
            if verdict.ok:
                continue
            ident = f"{cb.call}:callback:{cb.status}"
            times = _cb_times(cb)
            yield self._breach(ident, cb.call, cb.department, cb.number, verdict, times, tag)

    def _breach(
        self,
        ident: str,
        call_id: str,
        dept: str | None,
        caller: str | None,
        verdict: Verdict,
        extra: dict[str, Any],
        tag: str | None = None,
    ) -> Body:
        rings: dict[str, Any] = {}
        if verdict.rings is not None:
            rings = {"rings": verdict.rings, "limit_rings": verdict.limit_rings}
        record = Breach(
            id=ident,
            site=self.site.name,
            call=call_id,
            department=dept,
            caller=self._party(caller),
            rule=verdict.rule,
            measured=verdict.measured,
            limit=verdict.limit,
            charter=verdict.charter,
            detail=verdict.detail,
            unit=verdict.unit,
            evidence=list(verdict.evidence),
            tag=tag,
            **rings,
            **extra,
        )
        topic = self.topics.breaches(dept) if tag is None else self.topics.probe_breaches(dept)
        return Body("breach", topic, ident, record)

    def _leg_department(self, event: LegEvent) -> tuple[str | None, str | None]:
        """The department and tag of the leg of ``event`` (decided on its first event)."""
        try:
            known = self._legs[event.leg]
            self._legs.move_to_end(event.leg)
        except KeyError:
            probe = is_probe_call_id(event.call_id) or event.from_user in self.probe_callers
            known = (event_department(event, self._directory), PROBE_TAG if probe else None)
            self._legs[event.leg] = known
            if len(self._legs) > _LEG_CACHE:
                self._legs.popitem(last=False)
        if event.kind == "ended":
            self._legs.pop(event.leg, None)
        return known

    def _remember_probe(self, call_id: str) -> None:
        """Keep a probe call's id for its callback news (a bounded memory)."""
        self._probe_calls[call_id] = None
        self._probe_calls.move_to_end(call_id)
        if len(self._probe_calls) > _LEG_CACHE:
            self._probe_calls.popitem(last=False)

    def _party(self, user: str | None) -> str | None:
        if self.reveal_numbers:
            return user
        return mask_party(user, self._directory.is_ours)

    def _mask_event(self, body: dict[str, Any]) -> None:
        for key in ("from", "to", "dialled", "referred_by"):
            if isinstance(body.get(key), str):
                body[key] = self._mask_text(body[key])
        if isinstance(body.get("by"), str) and body["by"] not in _SIDES:
            body["by"] = self._party(body["by"])
        if isinstance(body.get("refer_to"), str):
            body["refer_to"] = self._mask_text(body["refer_to"])
        if "headers" in body:
            body["headers"] = [h for h in body["headers"] if h[0].lower() in self._correlation]

    def _mask_text(self, text: str) -> str:
        if ":" not in text:
            return self._party(text) or text
        return _URI_USER.sub(lambda m: m.group(1) + (self._party(m.group(2)) or ""), text)


def _cb_times(cb: Callback) -> dict[str, Any]:
    def opt(ts: int | None) -> str | None:
        return None if ts is None else iso(ts)

    at = cb.called_back_at if cb.called_back_at is not None else cb.due_at
    return {
        "status": cb.status,
        "opened_at": iso(cb.opened_at),
        "due_at": opt(cb.due_at),
        "called_back_at": opt(cb.called_back_at),
        "by": cb.by,
        "at": opt(at if at is not None else cb.opened_at),
    }
