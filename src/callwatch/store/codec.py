"""Lossless JSON for the pipeline's outputs: what the spool writes and reads back.

``to_dict``/``from_dict`` pairs for :class:`LegEvent` (every kind), :class:`Leg`,
:class:`Transfer`, :class:`Call`, :class:`Verdict`, :class:`Callback` and
:class:`RawMessage`; :func:`encode_output`/:func:`decode_output` wrap them as one tagged
record per output. Only JSON types are produced (tuples become lists and come back as tuples),
so ``from_dict(json.loads(json.dumps(to_dict(x)))) == x``.

A :class:`JudgedCall` carries its charter profile by id; decoding it looks the id up in the
profiles given (the site's), so the profile files are not copied into every record.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from callwatch.calls.model import Call, Leg, Transfer
from callwatch.charter.callbacks import Callback
from callwatch.charter.profile import Profile
from callwatch.charter.verdict import Verdict
from callwatch.pipeline import CallbackNews, JudgedCall
from callwatch.profile_files import builtin_profiles
from callwatch.sip.events import EVENT_KINDS, LegEvent
from callwatch.store.errors import CodecError
from callwatch.store.rawsip import RawMessage

StoreItem = LegEvent | JudgedCall | CallbackNews | RawMessage
"""What the store and its spool take: the pipeline's outputs and raw SIP messages."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    return value


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


_FIELD_NAMES: dict[tuple[type, tuple[str, ...]], tuple[str, ...]] = {}


def field_names(cls: type, skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The dataclass ``cls``'s field names but ``skip``, in declaration order (remembered:
    the store asks for every row it writes)."""
    names = _FIELD_NAMES.get((cls, skip))
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if f.name not in skip)
        _FIELD_NAMES[cls, skip] = names
    return names


def _plain(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    return {name: _jsonable(getattr(obj, name)) for name in field_names(type(obj), skip)}


def _build(cls: type, data: Mapping[str, Any], **override: Any) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names - set(override)
    if unknown:
        raise CodecError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    kwargs = {k: _tuples(v) for k, v in data.items() if k not in override}
    kwargs.update(override)
    try:
        return cls(**kwargs)
    except TypeError as exc:
        raise CodecError(f"{cls.__name__}: {exc}") from None


def event_to_dict(event: LegEvent) -> dict[str, Any]:
    """A leg event as ``{"kind": ..., <every field>}`` (tuples as lists)."""
    return {"kind": event.kind, **_plain(event)}


def event_from_dict(data: Mapping[str, Any]) -> LegEvent:
    """The leg event of :func:`event_to_dict`."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    if kind == "ended":  # rows and spools from before the always-empty "extra" went
        fields.pop("extra", None)
    cls = EVENT_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise CodecError(f"unknown leg event kind {kind!r}")
    return _build(cls, fields)


def leg_to_dict(leg: Leg) -> dict[str, Any]:
    """A leg with its events."""
    out = _plain(leg, skip=("events",))
    out["events"] = [event_to_dict(e) for e in leg.events]
    return out


def leg_from_dict(data: Mapping[str, Any]) -> Leg:
    """The leg of :func:`leg_to_dict`."""
    events = [event_from_dict(e) for e in data.get("events", ())]
    return _build(Leg, {k: v for k, v in data.items() if k != "events"}, events=events)


def transfer_to_dict(transfer: Transfer) -> dict[str, Any]:
    """A transfer (``legs`` as a list)."""
    return _plain(transfer)


def transfer_from_dict(data: Mapping[str, Any]) -> Transfer:
    """The transfer of :func:`transfer_to_dict`."""
    return _build(Transfer, data)


def call_to_dict(call: Call) -> dict[str, Any]:
    """A customer call with its legs (and their events) and transfers."""
    out = _plain(call, skip=("legs", "transfers"))
    out["legs"] = [leg_to_dict(leg) for leg in call.legs]
    out["transfers"] = [transfer_to_dict(t) for t in call.transfers]
    return out


def call_from_dict(data: Mapping[str, Any]) -> Call:
    """The call of :func:`call_to_dict`."""
    rest = {k: v for k, v in data.items() if k not in ("legs", "transfers")}
    return _build(
        Call,
        rest,
        legs=[leg_from_dict(leg) for leg in data.get("legs", ())],
        transfers=[transfer_from_dict(t) for t in data.get("transfers", ())],
    )


def verdict_to_dict(verdict: Verdict) -> dict[str, Any]:
    """A verdict with every field (``evidence`` as a list)."""
    return _plain(verdict)


def verdict_from_dict(data: Mapping[str, Any]) -> Verdict:
    """The verdict of :func:`verdict_to_dict`."""
    return _build(Verdict, data)


def callback_to_dict(callback: Callback) -> dict[str, Any]:
    """A callback with every field."""
    return _plain(callback)


def callback_from_dict(data: Mapping[str, Any]) -> Callback:
    """The callback of :func:`callback_to_dict`."""
    return _build(Callback, data)


def message_to_dict(message: RawMessage) -> dict[str, Any]:
    """A raw SIP message (addresses as ``[host, port]``)."""
    return _plain(message)


def message_from_dict(data: Mapping[str, Any]) -> RawMessage:
    """The raw message of :func:`message_to_dict`."""
    return _build(RawMessage, data)


def encode_output(item: StoreItem) -> dict[str, Any]:
    """One pipeline output or raw message as a tagged JSON record (``"type"`` names it)."""
    if isinstance(item, LegEvent):
        return {"type": "event", "event": event_to_dict(item)}
    if isinstance(item, JudgedCall):
        return {
            "type": "call",
            "call": call_to_dict(item.call),
            "profile": item.profile.id,
            "verdicts": [verdict_to_dict(v) for v in item.verdicts],
            "callback": None if item.callback is None else callback_to_dict(item.callback),
        }
    if isinstance(item, CallbackNews):
        return {
            "type": "callback",
            "callback": callback_to_dict(item.callback),
            "verdicts": [verdict_to_dict(v) for v in item.verdicts],
        }
    if isinstance(item, RawMessage):
        return {"type": "sip", "message": message_to_dict(item)}
    raise CodecError(f"cannot encode {type(item).__name__}")


def decode_output(
    record: Mapping[str, Any], profiles: Mapping[str, Profile] | None = None
) -> StoreItem:
    """The output of :func:`encode_output`; ``profiles`` (default: the built-in charters)
    resolves a judged call's profile id. Raises :class:`CodecError` on a bad record."""
    try:
        kind = record["type"]
        if kind == "event":
            return event_from_dict(record["event"])
        if kind == "call":
            known = builtin_profiles() if profiles is None else profiles
            profile = known.get(record["profile"])
            if profile is None:
                raise CodecError(f"unknown charter profile {record['profile']!r}")
            cb = record["callback"]
            return JudgedCall(
                call_from_dict(record["call"]),
                profile,
                [verdict_from_dict(v) for v in record["verdicts"]],
                None if cb is None else callback_from_dict(cb),
            )
        if kind == "callback":
            return CallbackNews(
                callback_from_dict(record["callback"]),
                [verdict_from_dict(v) for v in record["verdicts"]],
            )
        if kind == "sip":
            return message_from_dict(record["message"])
    except (KeyError, TypeError, AttributeError) as exc:
        raise CodecError(f"bad {record.get('type', '?')!r} record: {exc!r}") from None
    raise CodecError(f"unknown record type {kind!r}")
