"""Which stored calls are probe calls: the tag the store writes and the figures leave out.

A call is a probe call when one of its legs carries a probe's own Call-ID (the form
:func:`new_call_id` gives every call :class:`~callwatch.probe.caller.ProbePhone` places:
``probe-`` and 24 hex digits, ``@`` and the probe's address) or when its caller is one of the
probe's numbers (its PBX account, the setting ``probe_user`` from ``CALLWATCH_PROBE_USER``:
the probe account is named with a phone number, see docs/probes.md). Pure functions: whoever
tags calls (the store, the payload builder, the live feed) is handed those numbers
(:attr:`callwatch.settings.Settings.probe_callers`), nothing here reads the environment.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from callwatch.calls.model import Call

PROBE_TAG = "probe"
"""The value of ``calls.tag`` for a probe call (NULL: a citizen's call, counted)."""
_CALL_ID = re.compile(r"probe-[0-9a-f]{24}@")


def new_call_id(host: str, token: str) -> str:
    """The Call-ID of a new probe call from ``host``; ``token`` is 24 fresh hex digits."""
    call_id = f"probe-{token}@{host}"
    if not is_probe_call_id(call_id):
        raise ValueError(f"a probe call needs 24 hex digits, not {token!r}")
    return call_id


def is_probe_call_id(call_id: str | None) -> bool:
    """True for a Call-ID of the form :func:`new_call_id` makes."""
    return call_id is not None and _CALL_ID.match(call_id) is not None


def call_tag(call: Call, callers: Collection[str] = ()) -> str | None:
    """``probe`` for a probe call (a leg with a probe's Call-ID, or a probe's caller number),
    else None."""
    if call.caller is not None and call.caller in callers:
        return PROBE_TAG
    if any(is_probe_call_id(leg.call_id) for leg in call.legs):
        return PROBE_TAG
    return None
