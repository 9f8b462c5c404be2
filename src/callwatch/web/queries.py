"""What the pages read that the store and the reports do not already offer: one call's legs
and leg events (for its time line), the attempts to call a missed caller back, and the latest
breaches (for the dashboard's feed).
SQLAlchemy Core on the store's tables."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from callwatch.charter.callbacks import normalize_number, same_number
from callwatch.store import Store, tables


@dataclass(frozen=True, slots=True)
class LegRow:
    """One leg of a stored call (times in capture µs)."""

    leg: str
    sip_call_id: str
    role: str
    from_user: str | None
    to_user: str | None
    offered: int
    alerting: int | None
    answered: int | None
    answered_by: str | None
    ended: int | None
    ended_by: str | None
    end_reason: str | None


@dataclass(frozen=True, slots=True)
class EventRow:
    """One leg event of a stored call."""

    kind: str
    at: int
    leg: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class RecentBreach:
    """A failed verdict of a recent call."""

    call_id: str
    started_us: int
    department: str | None
    extension: str | None
    caller: str | None
    rule: str
    measured: float | None
    limit: float | None


def call_legs(store: Store, call_id: str) -> list[LegRow]:
    """The legs of ``call_id`` in their stored order."""
    c = tables.legs.c
    query = (
        select(
            c.leg,
            c.sip_call_id,
            c.role,
            c.from_user,
            c.to_user,
            c.offered_us.label("offered"),
            c.alerting_us.label("alerting"),
            c.answered_us.label("answered"),
            c.answered_by,
            c.ended_us.label("ended"),
            c.ended_by,
            c.end_reason,
        )
        .where(c.call_id == call_id)
        .order_by(c.position)
    )
    with store.engine.connect() as conn:
        return [LegRow(**row._mapping) for row in conn.execute(query)]


def call_events(store: Store, call_id: str) -> list[EventRow]:
    """The leg events of ``call_id`` in time order."""
    e = tables.events.c
    query = (
        select(e.kind, e.at_us, e.leg, e.fields)
        .where(e.call_id == call_id)
        .order_by(e.at_us, e.leg, e.kind)
    )
    with store.engine.connect() as conn:
        return [EventRow(k, at, leg, dict(f or {})) for k, at, leg, f in conn.execute(query)]


def recent_breaches(
    store: Store,
    site: str,
    *,
    limit: int = 20,
    before: int | None = None,
    departments: Collection[str] | None = None,
) -> list[RecentBreach]:
    """The ``limit`` latest breaches of the site (calls begun before ``before``), newest
    first; only those of ``departments`` when given; probe calls (tagged) left out."""
    v, c = tables.verdicts.c, tables.calls.c
    query = (
        select(
            c.id, c.started_us, c.department, c.answered_by, c.caller, v.rule, v.measured, v.limit
        )
        .join_from(tables.calls, tables.verdicts, v.call_id == c.id)
        .where(c.site == site, v.ok.is_(False), c.tag.is_(None))
        .order_by(c.started_us.desc(), c.id, v.source, v.position)
        .limit(limit)
    )
    if before is not None:
        query = query.where(c.started_us < before)
    if departments is not None:
        query = query.where(c.department.in_(list(departments)))
    with store.engine.connect() as conn:
        return [RecentBreach(*row) for row in conn.execute(query)]


@dataclass(frozen=True, slots=True)
class AttemptRow:
    """An outbound call that tried to call a missed caller back (times in capture µs)."""

    call_id: str
    started: int
    answered: int | None
    ended: int | None
    caller: str | None


def callback_attempts(
    store: Store,
    site: str,
    number: str,
    department: str | None,
    since: int,
    until: int | None = None,
    *,
    limit: int = 20,
) -> list[AttemptRow]:
    """Outbound calls of ``department`` to ``number`` begun in ``[since, until]`` (``until``
    None: any later one), oldest first, at most ``limit``: the attempts to call a missed caller
    back, matched as the callback book matches numbers (a trunk prefix may differ)."""
    wanted = normalize_number(number)
    if wanted is None:
        return []
    c = tables.calls.c
    query = (
        select(c.id, c.started_us, c.answered_us, c.ended_us, c.caller, c.dialled)
        .where(
            c.site == site,
            c.direction == "outbound",
            c.started_us >= since,
            c.dialled.like(f"%{wanted[-7:]}"),
        )
        .order_by(c.started_us, c.id)
    )
    if until is not None:
        query = query.where(c.started_us <= until)
    if department is not None:
        query = query.where(c.department == department)
    out: list[AttemptRow] = []
    with store.engine.connect() as conn:
        for call_id, started, answered, ended, caller, dialled in conn.execute(query):
            dialled_number = normalize_number(dialled)
            if dialled_number is not None and same_number(wanted, dialled_number):
                out.append(AttemptRow(call_id, started, answered, ended, caller))
                if len(out) >= limit:
                    break
    return out
