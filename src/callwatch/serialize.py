"""JSON shapes of the command-line contract (``callwatch ingest``) and of the bus payloads."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from callwatch.calls.model import Call, Transfer
from callwatch.charter import rules
from callwatch.charter.callbacks import Callback
from callwatch.charter.profile import Profile
from callwatch.charter.verdict import Verdict
from callwatch.sip.events import LegEvent
from callwatch.timefmt import iso, iso_or_none

_EVENT_SKIP = {"at", "leg", "call_id", "from_user", "to_user"}

INCOMPLETE_REASONS = {
    "capture_ended": "capture ended",
    "capture_began": "capture began mid-call",
    "stale": "signalling went quiet",
}
"""``Call.incomplete_reason`` as ``callwatch ingest`` writes it (``incomplete_reason``)."""


def event_to_dict(event: LegEvent) -> dict[str, Any]:
    """A leg event as ``{"at", "event", "call_id", "from", "to", ...kind-specific fields}``."""
    out: dict[str, Any] = {
        "at": iso(event.at),
        "event": event.kind,
        "call_id": event.call_id,
        "from": event.from_user,
        "to": event.to_user,
    }
    for field in fields(event):
        name = field.name
        if name in _EVENT_SKIP:
            continue
        value = getattr(event, name)
        if name == "headers":
            value = [list(pair) for pair in value]
        elif name in ("src", "dst") and value is not None:
            value = f"[{value[0]}]:{value[1]}" if ":" in value[0] else f"{value[0]}:{value[1]}"
        out[name] = list(value) if isinstance(value, tuple) else value
    out["leg"] = event.leg
    return out


def verdict_to_dict(verdict: Verdict) -> dict[str, Any]:
    """A verdict as ``{"rule", "ok", "measured", "limit", ...}``."""
    out: dict[str, Any] = {
        "rule": verdict.rule,
        "ok": verdict.ok,
        "measured": verdict.measured,
        "limit": verdict.limit,
        "charter": verdict.charter,
    }
    if verdict.rings is not None:
        out["rings"] = verdict.rings
        out["limit_rings"] = verdict.limit_rings
    if verdict.detail:
        out["detail"] = verdict.detail
    return out


def callback_to_dict(cb: Callback | None) -> dict[str, Any] | None:
    """A missed call's callback as ``{"due_at", "called_back_at", "by", "delay_seconds",
    "status"}``."""
    if cb is None:
        return None
    return {
        "due_at": iso_or_none(cb.due_at),
        "called_back_at": iso_or_none(cb.called_back_at),
        "by": cb.by,
        "delay_seconds": cb.delay_seconds,
        "status": cb.status,
        "opened_at": iso_or_none(cb.opened_at),
        "number": cb.number,
    }


def call_to_dict(
    call: Call,
    profile: Profile,
    verdicts: list[Verdict],
    callback: Callback | None,
) -> dict[str, Any]:
    """A customer call in the JSON of ``callwatch ingest`` (one object per call)."""
    ring = call.ring_seconds
    return {
        "call": call.id,
        "direction": call.direction,
        "caller": call.caller,
        "dialled": call.dialled,
        "department": call.department,
        "charter": profile.id,
        "started_at": iso(call.started_at),
        "first_ring_at": iso_or_none(call.first_ring_at),
        "answered_at": iso_or_none(call.answered_at),
        "answered_by": call.answered_by,
        "pbx_answered": call.pbx_answered_at is not None,
        "pbx_answered_at": iso_or_none(call.pbx_answered_at),
        "ring_from": call.ring_from,
        "ring_seconds": ring,
        "rings": rules.rings_heard(ring, profile) if ring is not None else None,
        "ended_at": iso_or_none(call.ended_at),
        "hangup_by": call.hangup_by,
        "missed": call.missed,
        "transfers": [_transfer(t) for t in call.transfers],
        "callback": callback_to_dict(callback),
        "verdicts": [verdict_to_dict(v) for v in verdicts],
        "end_reason": call.end_reason,
        "complete": call.complete,
        "incomplete": not call.complete,
        "incomplete_reason": INCOMPLETE_REASONS.get(call.incomplete_reason or "")
        if not call.complete
        else None,
        "correlation": call.correlation,
        "legs": [leg.call_id for leg in call.legs],
    }


def _transfer(t: Transfer) -> dict[str, Any]:
    return {
        "kind": t.kind,
        "from": t.from_ext,
        "to": t.to_ext,
        "started_at": iso(t.started_at),
        "connected_at": iso_or_none(t.connected_at),
        "seconds": t.seconds,
        "style": t.style,
    }
