"""The pipeline's outputs as records (:mod:`callwatch.records.schema`) and back.

``*_record`` functions build a record from the domain objects; ``*_from_record`` rebuild the
domain objects from a full record, so ``judged_from_record(call_payload(j), profiles) == j``.
A *public* record (``full=False``, what ``callwatch ingest`` prints and the store keeps as a
call's document) leaves out what only a reader that rebuilds the call needs.

:func:`encode` / :func:`decode` are the spool's and the workers' form: one JSON-ready dict per
output, tagged by ``type`` and carrying the schema version ``v``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import msgspec
from msgspec import UNSET

from callwatch.calls.model import Call, Leg, Transfer
from callwatch.charter import rules
from callwatch.charter.callbacks import Callback
from callwatch.charter.profile import Profile
from callwatch.charter.verdict import Verdict
from callwatch.pipeline import CallbackNews, JudgedCall, Output
from callwatch.profile_files import builtin_profiles
from callwatch.records import schema as s
from callwatch.records.errors import RecordError
from callwatch.sip import events as ev
from callwatch.timefmt import iso, parse_iso

INCOMPLETE_REASONS = {
    "capture_ended": "capture ended",
    "capture_began": "capture began mid-call",
    "stale": "signalling went quiet",
}
"""``Call.incomplete_reason`` as a call record words it (``incomplete_reason``)."""
_REASON_CODES = {text: code for code, text in INCOMPLETE_REASONS.items()}

_BASE = ("at", "leg", "call_id", "from_user", "to_user")
_EVENT_FIELDS: dict[str, tuple[str, ...]] = {
    kind: tuple(f for f in cls.__dataclass_fields__ if f not in _BASE)
    for kind, cls in ev.EVENT_KINDS.items()
}
_ADDRESSES = ("src", "dst")


_SECONDS: dict[str, int] = {}
_SECONDS_LIMIT = 4096


def capture_time(text: str) -> int:
    """The capture time (µs) of a record's time (:func:`callwatch.timefmt.iso`'s text; any
    other ISO 8601 time through :func:`~callwatch.timefmt.parse_iso`). The whole seconds of
    recent times are remembered: a call's times share a few."""
    if len(text) != 27 or text[19] != "." or text[26] != "Z":
        return parse_iso(text)
    head = text[:19]
    secs = _SECONDS.get(head)
    if secs is None:
        secs = parse_iso(head + "Z")
        if len(_SECONDS) >= _SECONDS_LIMIT:
            _SECONDS.clear()
        _SECONDS[head] = secs
    return secs + int(text[20:26])


_HEADS: dict[int, str] = {}


def record_time(ts: int) -> str:
    """A capture time as a record writes it: :func:`callwatch.timefmt.iso`'s text, the whole
    seconds of recent times remembered (a call's times share a few)."""
    secs, micros = divmod(ts, 1_000_000)
    head = _HEADS.get(secs)
    if head is None:
        head = iso(secs * 1_000_000)[:19]
        if len(_HEADS) >= _SECONDS_LIMIT:
            _HEADS.clear()
        _HEADS[secs] = head
    return f"{head}.{micros:06d}Z"


def _iso(ts: int | None) -> str | None:
    return None if ts is None else record_time(ts)


def _us(text: str | None) -> int | None:
    return None if text is None else capture_time(text)


def address(addr: tuple[str, int] | None) -> str | None:
    """``host:port`` (``[host]:port`` for an IPv6 host)."""
    if addr is None:
        return None
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def parse_address(text: str) -> tuple[str, int]:
    """The ``(host, port)`` of :func:`address`'s text."""
    host, _, port = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port)


# -- events --------------------------------------------------------------------------------------


def event_record(event: ev.LegEvent) -> s.Event:
    """The record of a leg event."""
    kind = event.kind
    extra = {name: getattr(event, name) for name in _EVENT_FIELDS[kind]}
    if kind == "offered":
        extra["src"] = address(extra["src"])
        extra["dst"] = address(extra["dst"])
    record = s.EVENT_RECORDS[kind](
        at=record_time(event.at),
        call_id=event.call_id,
        from_=event.from_user,
        to=event.to_user,
        leg=event.leg,
        **extra,
    )
    return cast(s.Event, record)


def event_from_record(record: s.EventBase) -> ev.LegEvent:
    """The leg event of :func:`event_record`."""
    kind = type(record).__struct_config__.tag
    assert isinstance(kind, str)
    extra = {name: getattr(record, name) for name in _EVENT_FIELDS[kind]}
    if kind == "offered":
        for name in _ADDRESSES:
            if extra[name] is not None:
                extra[name] = parse_address(extra[name])
    return ev.EVENT_KINDS[kind](
        at=capture_time(record.at),
        leg=record.leg,
        call_id=record.call_id,
        from_user=record.from_,
        to_user=record.to,
        **extra,
    )


def _loose_event(record: Mapping[str, Any]) -> s.EventBase:
    """The event record of ``record`` with its values as they are, unchecked: how the spool
    reads back an event the database refused (a field of the wrong type), so that it is kept,
    not lost. Raises :class:`RecordError` when even that cannot be done."""
    cls = s.EVENT_RECORDS.get(record.get("event"))  # type: ignore[arg-type]
    if cls is None:
        raise RecordError(f"unknown leg event kind {record.get('event')!r}")
    names = {f.encode_name: f.name for f in msgspec.structs.fields(cls)}
    try:
        return cls(**{names[k]: v for k, v in record.items() if k in names})
    except TypeError as exc:
        raise RecordError(f"bad {record.get('event')!r} event: {exc}") from None


def event_builtins(event: ev.LegEvent) -> dict[str, Any]:
    """A leg event as the JSON object ``callwatch ingest --events`` prints."""
    return cast(dict[str, Any], msgspec.to_builtins(event_record(event)))


# -- verdicts, transfers, callbacks, legs -------------------------------------------------------


def verdict_record(verdict: Verdict, *, full: bool = False) -> s.VerdictRecord:
    """A verdict's record; public: ``rings`` and ``limit_rings`` when it counts rings,
    ``detail`` when there is one, no ``unit`` or ``evidence``."""
    counted = full or verdict.rings is not None
    return s.VerdictRecord(
        rule=verdict.rule,
        ok=verdict.ok,
        measured=verdict.measured,
        limit=verdict.limit,
        charter=verdict.charter,
        rings=verdict.rings if counted else UNSET,
        limit_rings=verdict.limit_rings if counted else UNSET,
        detail=verdict.detail if full else verdict.detail or UNSET,
        unit=verdict.unit if full else UNSET,
        evidence=list(verdict.evidence) if full else UNSET,
    )


def verdict_from_record(record: s.VerdictRecord) -> Verdict:
    """The verdict of a full :func:`verdict_record`."""
    return Verdict(
        record.rule,
        record.charter,
        record.ok,
        record.measured,
        record.limit,
        _or(record.unit, "s"),
        _or(record.detail, ""),
        _or(record.rings, None),
        _or(record.limit_rings, None),
        tuple(_or(record.evidence, ())),
    )


def verdict_builtins(verdict: Verdict) -> dict[str, Any]:
    """A verdict as a call record's ``verdicts`` carry it (public form)."""
    return cast(dict[str, Any], msgspec.to_builtins(verdict_record(verdict)))


def _or(value: Any, default: Any) -> Any:
    return default if value is UNSET else value


def transfer_record(transfer: Transfer, *, full: bool = False) -> s.TransferRecord:
    """A transfer's record (``legs`` and ``completed_at`` in the full form)."""
    return s.TransferRecord(
        kind=transfer.kind,
        from_=transfer.from_ext,
        to=transfer.to_ext,
        started_at=record_time(transfer.started_at),
        connected_at=_iso(transfer.connected_at),
        seconds=transfer.seconds,
        style=transfer.style,
        legs=list(transfer.legs) if full else UNSET,
        completed_at=_iso(transfer.completed_at) if full else UNSET,
    )


def transfer_from_record(record: s.TransferRecord) -> Transfer:
    """The transfer of a full :func:`transfer_record`."""
    return Transfer(
        kind=cast(Any, record.kind),
        from_ext=record.from_,
        to_ext=record.to,
        started_at=capture_time(record.started_at),
        connected_at=_us(record.connected_at),
        legs=tuple(_or(record.legs, ())),
        completed_at=_us(_or(record.completed_at, None)),
        style=cast(Any, record.style),
    )


def callback_record(cb: Callback, *, full: bool = False) -> s.CallbackRecord:
    """A callback's record (whose call, department, charter, attempts and whether the time
    was requested: in the full form)."""
    return s.CallbackRecord(
        due_at=_iso(cb.due_at),
        called_back_at=_iso(cb.called_back_at),
        by=cb.by,
        delay_seconds=cb.delay_seconds,
        status=cb.status,
        opened_at=record_time(cb.opened_at),
        number=cb.number,
        call=cb.call if full else UNSET,
        department=cb.department if full else UNSET,
        charter=cb.charter if full else UNSET,
        attempts=cb.attempts if full else UNSET,
        requested=cb.requested if full else UNSET,
    )


def callback_from_record(record: s.CallbackRecord) -> Callback:
    """The callback of a full :func:`callback_record`."""
    missing = [
        name
        for name in ("call", "department", "charter", "attempts", "requested")
        if getattr(record, name) is UNSET
    ]
    if missing or record.opened_at is None or record.number is None:
        raise RecordError(f"callback: not a full record (missing {missing})")
    return Callback(
        call=cast(str, record.call),
        number=record.number,
        department=cast(Any, record.department),
        charter=cast(str, record.charter),
        opened_at=capture_time(record.opened_at),
        due_at=_us(record.due_at),
        called_back_at=_us(record.called_back_at),
        by=record.by,
        status=record.status,
        attempts=cast(int, record.attempts),
        requested=cast(bool, record.requested),
    )


def callback_builtins(cb: Callback) -> dict[str, Any]:
    """A callback as a call record's ``callback`` carries it (public form)."""
    return cast(dict[str, Any], msgspec.to_builtins(callback_record(cb)))


def leg_record(leg: Leg) -> s.LegRecord:
    """A leg with its events."""
    return s.LegRecord(
        leg=leg.leg,
        call_id=leg.call_id,
        from_=leg.from_user,
        to=leg.to_user,
        dialled=leg.dialled,
        offered_at=record_time(leg.offered_at),
        role=leg.role,
        alerting_at=_iso(leg.alerting_at),
        answered_at=_iso(leg.answered_at),
        answered_by=leg.answered_by,
        ended_at=_iso(leg.ended_at),
        ended_by=leg.ended_by,
        end_reason=leg.end_reason,
        held_at=_iso(leg.held_at),
        events=[event_record(e) for e in leg.events],
    )


def leg_from_record(record: s.LegRecord) -> Leg:
    """The leg of :func:`leg_record`."""
    return Leg(
        leg=record.leg,
        call_id=record.call_id,
        from_user=record.from_,
        to_user=record.to,
        dialled=record.dialled,
        offered_at=capture_time(record.offered_at),
        role=cast(Any, record.role),
        alerting_at=_us(record.alerting_at),
        answered_at=_us(record.answered_at),
        answered_by=record.answered_by,
        ended_at=_us(record.ended_at),
        ended_by=record.ended_by,
        end_reason=record.end_reason,
        held_at=_us(record.held_at),
        events=[event_from_record(e) for e in record.events],
    )


# -- calls and callback news ---------------------------------------------------------------------


def _call_fields(
    call: Call,
    profile: Profile,
    verdicts: list[Verdict],
    callback: Callback | None,
    full: bool,
) -> dict[str, Any]:
    ring = call.ring_seconds
    return {
        "call": call.id,
        "direction": call.direction,
        "caller": call.caller,
        "dialled": call.dialled,
        "department": call.department,
        "charter": profile.id,
        "started_at": record_time(call.started_at),
        "first_ring_at": _iso(call.first_ring_at),
        "answered_at": _iso(call.answered_at),
        "answered_by": call.answered_by,
        "pbx_answered": call.pbx_answered_at is not None,
        "pbx_answered_at": _iso(call.pbx_answered_at),
        "ring_from": call.ring_from,
        "ring_seconds": ring,
        "rings": rules.rings_heard(ring, profile) if ring is not None else None,
        "ended_at": _iso(call.ended_at),
        "hangup_by": call.hangup_by,
        "missed": call.missed,
        "transfers": [transfer_record(t, full=full) for t in call.transfers],
        "callback": None if callback is None else callback_record(callback, full=full),
        "verdicts": [verdict_record(v, full=full) for v in verdicts],
        "end_reason": call.end_reason,
        "complete": call.complete,
        "incomplete": not call.complete,
        "incomplete_reason": INCOMPLETE_REASONS.get(call.incomplete_reason or "")
        if not call.complete
        else None,
        "correlation": call.correlation,
        "legs": [leg.call_id for leg in call.legs],
        "sip_legs": [leg_record(leg) for leg in call.legs] if full else UNSET,
    }


def call_record(
    call: Call, profile: Profile, verdicts: list[Verdict], callback: Callback | None
) -> s.CallRecord:
    """The public record of a judged call (what ``callwatch ingest`` prints for it)."""
    return s.CallRecord(**_call_fields(call, profile, verdicts, callback, False))


def call_builtins(
    call: Call, profile: Profile, verdicts: list[Verdict], callback: Callback | None
) -> dict[str, Any]:
    """:func:`call_record` as a JSON-ready dict."""
    record = call_record(call, profile, verdicts, callback)
    return cast(dict[str, Any], msgspec.to_builtins(record))


def call_payload(
    judged: JudgedCall, *, ident: str | None = None, site: str | None = None
) -> s.CallPayload:
    """The full record of a judged call (the spool's; the bus's with ``ident`` and ``site``)."""
    fields = _call_fields(judged.call, judged.profile, judged.verdicts, judged.callback, True)
    return s.CallPayload(
        **fields,
        id=UNSET if ident is None else ident,
        site=UNSET if site is None else site,
    )


def judged_from_record(record: s.CallRecord, profiles: Mapping[str, Profile]) -> JudgedCall:
    """The judged call of a full call record; its charter profile is looked up in
    ``profiles``. Raises :class:`RecordError` for an unknown profile or a public record."""
    profile = profiles.get(record.charter)
    if profile is None:
        raise RecordError(f"unknown charter profile {record.charter!r}")
    if record.sip_legs is UNSET:
        raise RecordError(f"call {record.call!r}: not a full record (no sip_legs)")
    reason = record.incomplete_reason
    call = Call(
        id=record.call,
        direction=cast(Any, record.direction),
        caller=record.caller,
        dialled=record.dialled,
        started_at=capture_time(record.started_at),
        department=record.department,
        legs=[leg_from_record(leg) for leg in record.sip_legs],
        first_ring_at=_us(record.first_ring_at),
        answered_at=_us(record.answered_at),
        answered_by=record.answered_by,
        ended_at=_us(record.ended_at),
        hangup_by=cast(Any, record.hangup_by),
        end_reason=record.end_reason,
        missed=record.missed,
        transfers=[transfer_from_record(t) for t in record.transfers],
        correlation=record.correlation,
        complete=record.complete,
        ring_from=cast(Any, record.ring_from),
        pbx_answered_at=_us(record.pbx_answered_at),
        incomplete_reason=cast(Any, None if reason is None else _REASON_CODES.get(reason, reason)),
    )
    cb = record.callback
    return JudgedCall(
        call,
        profile,
        [verdict_from_record(v) for v in record.verdicts],
        None if cb is None else callback_from_record(cb),
    )


def callback_payload(
    news: CallbackNews, *, ident: str | None = None, site: str | None = None
) -> s.CallbackPayload:
    """The full record of callback news (the spool's; the bus's with ``ident`` and ``site``)."""
    return s.CallbackPayload(
        callback=callback_record(news.callback, full=True),
        verdicts=[verdict_record(v, full=True) for v in news.verdicts],
        id=UNSET if ident is None else ident,
        site=UNSET if site is None else site,
    )


def news_from_record(record: s.CallbackNewsRecord) -> CallbackNews:
    """The callback news of :func:`callback_payload`."""
    return CallbackNews(
        callback_from_record(record.callback),
        [verdict_from_record(v) for v in record.verdicts],
    )


# -- the spool's and the workers' form -----------------------------------------------------------

_EVENT_ENVELOPE = {"type": "event", "v": s.VERSION}


def encode(item: Output) -> dict[str, Any]:
    """One pipeline output as a JSON-ready dict tagged by ``type``, with ``v``."""
    if isinstance(item, ev.LegEvent):
        return _EVENT_ENVELOPE | cast(dict[str, Any], msgspec.to_builtins(event_record(item)))
    if isinstance(item, JudgedCall):
        return cast(dict[str, Any], msgspec.to_builtins(call_payload(item)))
    if isinstance(item, CallbackNews):
        return cast(dict[str, Any], msgspec.to_builtins(callback_payload(item)))
    raise RecordError(f"cannot encode {type(item).__name__}")


def check_version(record: Mapping[str, Any]) -> None:
    """Raise :class:`RecordError` unless ``record`` says a version this callwatch reads."""
    version = record.get("v")
    if version != s.VERSION:
        raise RecordError(f"record version {version!r}: this callwatch reads {s.VERSION}")


def decode(record: Mapping[str, Any], profiles: Mapping[str, Profile] | None = None) -> Output:
    """The output of :func:`encode` (``profiles``, default the built-in charters, resolve a
    judged call's charter). Raises :class:`RecordError` on a bad record."""
    if not isinstance(record, Mapping):
        raise RecordError(f"not a record: {type(record).__name__}")
    kind = record.get("type")
    check_version(record)
    try:
        if kind == "event":
            try:
                event = msgspec.convert(record, s.Event)
            except msgspec.ValidationError:
                event = _loose_event(record)
            return event_from_record(event)
        if kind == "call":
            call = msgspec.convert(record, s.CallPayload)
            known = builtin_profiles() if profiles is None else profiles
            return judged_from_record(call, known)
        if kind == "callback":
            return news_from_record(msgspec.convert(record, s.CallbackPayload))
    except (msgspec.ValidationError, ValueError, TypeError) as exc:
        raise RecordError(f"bad {kind!r} record: {exc}") from None
    raise RecordError(f"unknown record type {kind!r}")


_WORKER_DECODER = msgspec.json.Decoder(s.CallPayload | s.CallbackPayload)


def decode_payload(payload: bytes, profiles: Mapping[str, Profile]) -> JudgedCall | CallbackNews:
    """The judged call or callback news of a bus ``calls``/``callbacks`` payload, read
    straight from its JSON bytes. Raises :class:`RecordError` for anything else."""
    try:
        record = _WORKER_DECODER.decode(payload)
    except (msgspec.DecodeError, ValueError) as exc:
        raise RecordError(f"not a call or callback record: {exc}") from None
    if record.v != s.VERSION:
        raise RecordError(f"record version {record.v!r}: this callwatch reads {s.VERSION}")
    try:
        if isinstance(record, s.CallPayload):
            return judged_from_record(record, profiles)
        return news_from_record(record)
    except (ValueError, TypeError) as exc:
        raise RecordError(f"bad {type(record).__name__}: {exc}") from None
