"""JSON shapes of the command-line contract (``callwatch ingest``) and of the bus payloads."""

from __future__ import annotations

from typing import Any

from callwatch.sip.events import LegEvent
from callwatch.timefmt import iso

_EVENT_SKIP = {"at", "leg", "call_id", "from_user", "to_user"}


def event_to_dict(event: LegEvent) -> dict[str, Any]:
    """A leg event as ``{"at", "event", "call_id", "from", "to", ...kind-specific fields}``."""
    out: dict[str, Any] = {
        "at": iso(event.at),
        "event": event.kind,
        "call_id": event.call_id,
        "from": event.from_user,
        "to": event.to_user,
    }
    for name in event.__slots__:
        if name in _EVENT_SKIP:
            continue
        value = getattr(event, name)
        if name == "headers":
            value = [list(pair) for pair in value]
        elif name in ("src", "dst") and value is not None:
            value = f"[{value[0]}]:{value[1]}" if ":" in value[0] else f"{value[0]}:{value[1]}"
        elif name == "extra" and not value:
            continue
        out[name] = list(value) if isinstance(value, tuple) else value
    out["leg"] = event.leg
    return out
