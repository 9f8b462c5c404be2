"""Sorted, counted searches of breaches and calls: what the explorer page lists and exports.

The filters are :class:`callwatch.api.queries.CallFilter` (the API's own, so a page and
``/api/breaches`` narrow alike: staff calls only unless its ``tag`` says otherwise). A
search is sorted by one of :data:`BREACH_SORTS` or :data:`CALL_SORTS`, ascending or
descending, ties broken by time (newest first) and the row's identity, so pages never
overlap; pages are taken by offset (the explorer shows a page number and the count of all
matches). Rows come out raw (numbers as stored): the caller masks them for a viewer who may
not see numbers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.engine import Connection
from sqlalchemy.sql import ColumnElement

from callwatch.api.queries import CallFilter, call_conditions, read
from callwatch.store import Store, tables

Kind = Literal["breaches", "calls"]
KINDS: tuple[Kind, ...] = ("breaches", "calls")
BREACH_SORTS = ("time", "department", "rule", "extension", "measured")
CALL_SORTS = ("time", "department", "extension", "ring")
MAX_EXPORT_ROWS = 50_000
"""The most rows one export writes (the file says when it stopped there)."""
_BATCH = 1_000


@dataclass(frozen=True, slots=True)
class Search:
    """What to list: ``kind`` of rows matching ``where``, sorted by ``sort``."""

    where: CallFilter
    kind: Kind = "breaches"
    sort: str = "time"
    descending: bool = True

    def __post_init__(self) -> None:
        allowed = BREACH_SORTS if self.kind == "breaches" else CALL_SORTS
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r}: use breaches or calls")
        if self.sort not in allowed:
            raise ValueError(f"sort {self.sort!r}: use one of {', '.join(allowed)}")


@dataclass(frozen=True, slots=True)
class Found:
    """One page of rows and how many rows match in all."""

    rows: list[dict[str, Any]]
    total: int


def page(store: Store, search: Search, offset: int, limit: int) -> Found:
    """``limit`` rows of ``search`` from ``offset`` and the count of all matches."""

    def run(conn: Connection) -> Found:
        total = conn.execute(
            select(func.count()).select_from(_query(search).subquery())
        ).scalar_one()
        rows = _rows(conn, search, _query(search).offset(offset).limit(limit))
        return Found(rows, int(total))

    return read(store, run)


def every_row(store: Store, search: Search, cap: int = MAX_EXPORT_ROWS) -> Iterator[dict[str, Any]]:
    """The rows of ``search`` in order, at most ``cap`` of them, read in batches."""
    done = 0
    while done < cap:
        query = _query(search).offset(done).limit(min(_BATCH, cap - done))

        def page(conn: Connection, q: Any = query) -> list[dict[str, Any]]:
            return _rows(conn, search, q)

        batch = read(store, page)
        yield from batch
        done += len(batch)
        if len(batch) < _BATCH:
            return


def count(store: Store, search: Search) -> int:
    """How many rows match ``search``."""
    query = select(func.count()).select_from(_query(search).subquery())
    return int(read(store, lambda conn: conn.execute(query).scalar_one()))


def _query(search: Search) -> Any:
    c, v = tables.calls.c, tables.verdicts.c
    if search.kind == "breaches":
        query = call_conditions(
            select(
                v.call_id,
                v.source,
                v.position,
                v.rule,
                v.measured,
                v.limit,
                v.unit,
                v.rings,
                v.limit_rings,
                v.detail,
                c.department,
                c.direction,
                c.caller,
                c.dialled,
                c.answered_by,
                c.started_us,
                c.tag,
            ).join_from(tables.verdicts, tables.calls, v.call_id == c.id),
            replace(search.where, rule=None, breached=None),
        ).where(v.ok.is_(False))
        if search.where.rule is not None:
            query = query.where(v.rule == search.where.rule)
        keys: dict[str, ColumnElement[Any]] = {
            "time": c.started_us,
            "department": c.department,
            "rule": v.rule,
            "extension": c.answered_by,
            "measured": v.measured,
        }
        ties = [c.started_us.desc(), v.call_id.desc(), v.source.desc(), v.position.desc()]
    else:
        query = call_conditions(
            select(
                c.id,
                c.department,
                c.direction,
                c.caller,
                c.dialled,
                c.answered_by,
                c.started_us,
                c.ring_seconds,
                c.missed,
                c.hangup_by,
                c.tag,
            ),
            search.where,
        )
        keys = {
            "time": c.started_us,
            "department": c.department,
            "extension": c.answered_by,
            "ring": c.ring_seconds,
        }
        ties = [c.started_us.desc(), c.id.desc()]
    key = keys[search.sort]
    first = (key.desc() if search.descending else key.asc()).nulls_last()
    return query.order_by(first, *ties)


def _rows(conn: Connection, search: Search, query: Any) -> list[dict[str, Any]]:
    rows = [dict(r) for r in conn.execute(query).mappings()]
    if search.kind == "breaches":
        for r in rows:
            r["call"] = r.pop("call_id")
        return rows
    for r in rows:
        r["call"] = r.pop("id")
        r["missed"] = bool(r["missed"])
        r["breaches"] = []
    by_id = {r["call"]: r for r in rows}
    if by_id:
        v = tables.verdicts.c
        failed = (
            select(v.call_id, v.rule)
            .where(v.call_id.in_(list(by_id)), v.ok.is_(False))
            .order_by(v.call_id, v.source, v.position)
        )
        for call_id, rule in conn.execute(failed):
            if rule not in by_id[call_id]["breaches"]:
                by_id[call_id]["breaches"].append(rule)
    return rows
