"""The JSON Schema of each MQTT payload kind, generated from the record types.

``python -m callwatch.records.jsonschema DIR`` writes ``DIR/<kind>.json`` for ``event``,
``breach``, ``call`` and ``callback`` (the repository keeps them in ``docs/schema/``; a test
checks that they are what this module generates). The ``monitoring`` and ``status`` payloads
are not records (see :mod:`callwatch.probe.alerts` and :mod:`callwatch.bus.publisher`).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import msgspec

from callwatch.records import schema as s

DIALECT = "https://json-schema.org/draft/2020-12/schema"
_REF = "#/$defs/{name}"

KINDS = ("event", "breach", "call", "callback")
"""The payload kinds whose JSON Schema is generated (one file each)."""

_TITLES = {
    "event": "callwatch leg event payload (topic callwatch/<site>/events/<department>)",
    "breach": "callwatch breach payload (topic callwatch/<site>/breaches/<department>)",
    "call": "callwatch judged call payload (topic callwatch/<site>/calls/<department>)",
    "callback": "callwatch callback news payload (topic callwatch/<site>/callbacks/<department>)",
}


def _document(kind: str, root: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": DIALECT,
        "title": _TITLES[kind],
        "description": (
            f'Record schema version {s.VERSION} (the payload\'s "v"). Generated from '
            "callwatch.records.schema by callwatch.records.jsonschema; do not edit."
        ),
        **root,
        "$defs": dict(sorted(defs.items())),
    }


def _on_the_bus(defs: dict[str, Any], name: str, *keys: str) -> None:
    """``id``, ``site`` and ``keys`` are always there on the bus (the spool leaves ``id`` and
    ``site`` out; the public form of a call record, ``sip_legs``)."""
    required = defs[name].setdefault("required", [])
    for key in ("id", "site", *keys):
        if key not in required:
            required.append(key)
    required.sort()


def schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema document of each payload kind of :data:`KINDS`."""
    out: dict[str, dict[str, Any]] = {}
    (event, envelope), defs = msgspec.json.schema_components(
        [s.Event, s.EventEnvelope], ref_template=_REF
    )
    out["event"] = _document("event", {"allOf": [envelope, event]}, defs)
    (breach,), defs = msgspec.json.schema_components([s.Breach], ref_template=_REF)
    out["breach"] = _document("breach", breach, defs)
    (call,), defs = msgspec.json.schema_components([s.CallPayload], ref_template=_REF)
    _on_the_bus(defs, "CallPayload", "sip_legs")
    out["call"] = _document("call", call, defs)
    (news,), defs = msgspec.json.schema_components([s.CallbackPayload], ref_template=_REF)
    _on_the_bus(defs, "CallbackPayload")
    out["callback"] = _document("callback", news, defs)
    return out


def text(document: dict[str, Any]) -> str:
    """A schema document as the repository keeps it (sorted keys, two-space indent)."""
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write(directory: Path) -> list[Path]:
    """Write every payload kind's schema into ``directory``; return the files."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for kind, document in schemas().items():
        path = directory / f"{kind}.json"
        path.write_text(text(document), encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python -m callwatch.records.jsonschema DIR")
    for path in write(Path(sys.argv[1])):
        print(path)
