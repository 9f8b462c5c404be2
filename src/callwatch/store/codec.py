"""The store's side of the record schema: what its spool writes and reads back, and the
``events`` table's row shape.

:func:`encode_output` / :func:`decode_output` are the spool's seam: one JSON-ready dict per
pipeline output or raw SIP message, in the record schema (:mod:`callwatch.records`; ``type``
and ``v`` tag each), so ``decode_output(json.loads(json.dumps(encode_output(x)))) == x``. A
judged call carries its charter profile by id; decoding it looks the id up in the profiles
given (the site's), so the profile files are not copied into every record.

:func:`event_to_dict` / :func:`event_from_dict` are the leg event as a row of the ``events``
table (``kind`` and the dataclass's own field names, times in µs: what
:func:`callwatch.store.bulk.event_fields` writes), which the store reads back for
:meth:`~callwatch.store.store.Store.pending_events` and the API's event lists.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, cast

import msgspec

from callwatch.charter.profile import Profile
from callwatch.pipeline import CallbackNews, JudgedCall
from callwatch.records import convert
from callwatch.records import schema as s
from callwatch.records.errors import RecordError
from callwatch.sip.events import EVENT_KINDS, LegEvent
from callwatch.store.errors import CodecError
from callwatch.store.rawsip import RawMessage

StoreItem = LegEvent | JudgedCall | CallbackNews | RawMessage
"""What the store and its spool take: the pipeline's outputs and raw SIP messages."""


_FIELD_NAMES: dict[tuple[type, tuple[str, ...]], tuple[str, ...]] = {}


def field_names(cls: type, skip: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The dataclass ``cls``'s field names but ``skip``, in declaration order (remembered:
    the store asks for every row it writes)."""
    names = _FIELD_NAMES.get((cls, skip))
    if names is None:
        names = tuple(f.name for f in dataclasses.fields(cls) if f.name not in skip)
        _FIELD_NAMES[cls, skip] = names
    return names


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def _tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_tuples(v) for v in value)
    return value


def event_to_dict(event: LegEvent) -> dict[str, Any]:
    """A leg event as an ``events`` row sees it: ``{"kind": ..., <every field>}`` (tuples as
    lists)."""
    return {
        "kind": event.kind,
        **{n: _jsonable(getattr(event, n)) for n in field_names(type(event))},
    }


def event_from_dict(data: Mapping[str, Any]) -> LegEvent:
    """The leg event of an ``events`` row (:func:`event_to_dict`)."""
    fields = dict(data)
    kind = fields.pop("kind", None)
    if kind == "ended":  # rows from before the always-empty "extra" went
        fields.pop("extra", None)
    cls = EVENT_KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise CodecError(f"unknown leg event kind {kind!r}")
    names = set(field_names(cls))
    unknown = set(fields) - names
    if unknown:
        raise CodecError(f"{cls.__name__}: unknown fields {sorted(unknown)}")
    try:
        return cls(**{k: _tuples(v) for k, v in fields.items()})
    except TypeError as exc:
        raise CodecError(f"{cls.__name__}: {exc}") from None


def encode_output(item: StoreItem) -> dict[str, Any]:
    """One pipeline output or raw message as a tagged record (``"type"`` names it, ``"v"``
    the schema version)."""
    if isinstance(item, RawMessage):
        record = s.SipPayload(
            at=convert.record_time(item.at),
            src=cast(str, convert.address(item.src)),
            dst=cast(str, convert.address(item.dst)),
            transport=item.transport,
            call_id=item.call_id,
            text=item.text,
            leg=item.leg,
        )
        return cast(dict[str, Any], msgspec.to_builtins(record))
    try:
        return convert.encode(item)
    except RecordError as exc:
        raise CodecError(str(exc)) from None


def decode_output(
    record: Mapping[str, Any], profiles: Mapping[str, Profile] | None = None
) -> StoreItem:
    """The output of :func:`encode_output`; ``profiles`` (default: the built-in charters)
    resolves a judged call's profile id. Raises :class:`CodecError` on a bad record."""
    try:
        if isinstance(record, Mapping) and record.get("type") == "sip":
            convert.check_version(record)
            try:
                sip = msgspec.convert(record, s.SipPayload)
                return RawMessage(
                    convert.capture_time(sip.at),
                    convert.parse_address(sip.src),
                    convert.parse_address(sip.dst),
                    sip.transport,
                    sip.call_id,
                    sip.text,
                    sip.leg,
                )
            except (msgspec.ValidationError, ValueError) as exc:
                raise RecordError(f"bad 'sip' record: {exc}") from None
        return convert.decode(record, profiles)
    except RecordError as exc:
        raise CodecError(str(exc)) from None
