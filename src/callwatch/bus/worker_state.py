"""The retained state a worker publishes about its session (see :mod:`.handover`).

``callwatch/<site>/workers/<id>`` holds ``{"state": ..., "identifier": ..., "group": ...}``:
``online`` once subscribed, ``leaving`` while it stops, ``stopped`` when it stopped and kept its
session, ``lost`` (its will, published ``handover_after`` s after it vanished unless it came
back). An empty retained message clears it: the session has ended.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from callwatch.bus.topics import Topics, decode_level

ONLINE, LEAVING, STOPPED, LOST, GONE = "online", "leaving", "stopped", "lost", ""
HANDOVER_STATES = (STOPPED, LOST)
"""States of a peer whose session a live worker drains."""

DEFAULT_SESSION_EXPIRY = 7 * 24 * 3600
"""Seconds the broker keeps an offline worker's session (and what waits in it)."""
DEFAULT_HANDOVER_AFTER = 15
"""Seconds after a worker vanished before its ``lost`` will is published."""


@dataclass(frozen=True, slots=True)
class Peer:
    """A worker's retained state: ``state`` is :data:`GONE` for a cleared one."""

    identifier: str
    state: str
    group: str = ""


def state_payload(state: str, identifier: str, group: str) -> bytes:
    """The retained state message of a worker (:data:`GONE`: empty, which clears it)."""
    if state == GONE:
        return b""
    return json.dumps({"state": state, "identifier": identifier, "group": group}).encode()


def parse_state(topics: Topics, topic: str, payload: bytes) -> Peer | None:
    """The peer a state message on ``topic`` speaks of; None if it is not one."""
    parsed = topics.parse(topic)
    if parsed is None or parsed[0] != "workers" or "/" in parsed[1]:
        return None
    try:
        identifier = decode_level(parsed[1])
    except UnicodeDecodeError:
        return None
    if not payload:
        return Peer(identifier, GONE)
    try:
        record = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(record, dict) or not isinstance(record.get("state"), str):
        return None
    return Peer(identifier, record["state"], str(record.get("group", "")))
