"""The store's busy writes at the driver level: statements compiled once, rows as tuples.

:meth:`Store.save <callwatch.store.Store.save>` takes thousands of rows a second, and
SQLAlchemy's per-row work (building each row's parameters, running each column's bind
processor) cost more than the database itself. :class:`Bulk` compiles each statement of the
write path once for the engine's dialect and hands it to the driver with ``exec_driver_sql``;
its row makers produce, column by column in table order, the values SQLAlchemy's bind
processing would have handed the driver, so that rows read back through SQLAlchemy exactly as
before:

- ``DateTime(timezone=True)``: on SQLite the text SQLAlchemy's SQLite ``DATETIME`` stores
  (``YYYY-MM-DD HH:MM:SS.ffffff`` of the UTC time, no zone); on PostgreSQL the aware datetime
  itself, which psycopg adapts;
- ``JSON``: the text of ``json.dumps`` with its defaults, the serializer of both dialects as
  :func:`~callwatch.store.database.make_engine` makes the engine (on PostgreSQL the statement
  casts the text ``::JSON``, which keeps it as sent);
- ``Boolean``: Python bools (sqlite3 stores 1 and 0); other values as they are.

``tests/test_store_bulk.py`` checks that each row maker reads back as the SQLAlchemy path does.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from sqlalchemy import Table, bindparam, delete, null, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.engine.default import DefaultDialect

from callwatch import serialize
from callwatch.calls.model import Call
from callwatch.charter.callbacks import Callback
from callwatch.charter.verdict import Verdict
from callwatch.pipeline import JudgedCall
from callwatch.sip.events import LegEvent
from callwatch.store import tables
from callwatch.store.codec import field_names
from callwatch.store.rawsip import RawMessage, address_text
from callwatch.timefmt import utc

Row = tuple[Any, ...]
"""One row's values in the order of its table's columns."""

EVENT_COLUMNS: Final = ("kind", "at", "leg", "call_id")
"""Fields of a leg event that have columns of their own (the rest go to ``fields``)."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS: Final[dict[int, str]] = {}
_SECONDS_LIMIT: Final = 65_536


def aware_time(us: int | None) -> datetime | None:
    """:func:`~callwatch.timefmt.utc`, passing None through (what PostgreSQL is handed)."""
    return None if us is None else utc(us)


def sqlite_time(us: int | None) -> str | None:
    """Capture microseconds as SQLAlchemy's SQLite ``DATETIME`` stores them (its default
    ``storage_format``, of the UTC time): ``2026-11-23 01:02:03.000456``."""
    if us is None:
        return None
    secs, micros = divmod(us, 1_000_000)
    text = _SECONDS.get(secs)
    if text is None:
        t = _EPOCH + timedelta(seconds=secs)
        text = f"{t.year:04d}-{t.month:02d}-{t.day:02d} {t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        if len(_SECONDS) >= _SECONDS_LIMIT:
            _SECONDS.clear()
        _SECONDS[secs] = text
    return f"{text}.{micros:06d}"


def event_fields(event: LegEvent) -> dict[str, Any]:
    """The fields of ``event`` that have no column of their own, in declaration order (what
    the ``fields`` column holds; tuples stay tuples, which JSON writes as lists)."""
    return {name: getattr(event, name) for name in field_names(type(event), EVENT_COLUMNS)}


def _positional(dialect: Dialect) -> Dialect:
    """``dialect`` when its driver takes positional parameters, else the same dialect set to
    the positional "format" style (psycopg's "pyformat" takes dicts)."""
    if dialect.positional:
        return dialect
    if not isinstance(dialect, DefaultDialect):
        raise TypeError(f"{type(dialect).__name__}: not a SQLAlchemy DefaultDialect")
    return type(dialect)(paramstyle="format")


class Bulk:
    """The write path's statements compiled for one dialect, and its rows made for them."""

    def __init__(self, dialect: Dialect) -> None:
        self.time: Callable[[int | None], Any] = (
            sqlite_time if dialect.name == "sqlite" else aware_time
        )
        compiler = _positional(dialect)
        insert = sqlite.insert if dialect.name == "sqlite" else postgresql.insert

        def compiled(stmt: Any, params: Sequence[str]) -> str:
            done = stmt.compile(dialect=compiler)
            if tuple(done.positiontup or ()) != tuple(params):  # the rows must match it
                raise RuntimeError(f"{stmt}: parameters {done.positiontup} != {params}")
            return str(done)

        def insert_all(table: Table) -> Any:
            return insert(table), [c.name for c in table.columns]

        def upsert(table: Table, keys: Sequence[str], where: Any = None) -> str:
            stmt, columns = insert_all(table)
            changes = {c: stmt.excluded[c] for c in columns if c not in keys}
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_=changes, where=where)
            return compiled(stmt, columns)

        def ignore(table: Table) -> str:
            stmt, columns = insert_all(table)
            return compiled(stmt.on_conflict_do_nothing(), columns)

        def plain(table: Table) -> str:
            stmt, columns = insert_all(table)
            return compiled(stmt, columns)

        self.insert_messages = ignore(tables.sip_messages)
        self.insert_events = ignore(tables.events)
        self.upsert_events = upsert(tables.events, ("leg", "at_us", "kind"))
        self.upsert_calls = upsert(tables.calls, ("id",))
        self.insert_legs = plain(tables.legs)
        self.insert_verdicts = plain(tables.verdicts)
        excluded = insert(tables.callbacks).excluded
        self.upsert_callbacks = upsert(
            tables.callbacks, ("call_id",), where=tables.callbacks.c.rank <= excluded.rank
        )
        # One call id per row: PostgreSQL uses the index for ``=`` even before it has
        # statistics, where a fresh database's ``IN (...)`` took a sequential scan per batch.
        legs, verdicts, events = tables.legs.c, tables.verdicts.c, tables.events.c
        self.delete_legs = compiled(
            delete(tables.legs).where(legs.call_id == bindparam("call_id")), ["call_id"]
        )
        self.delete_verdicts = compiled(
            delete(tables.verdicts).where(
                verdicts.call_id == bindparam("call_id"), verdicts.source == bindparam("source")
            ),
            ["call_id", "source"],
        )
        self.release_events = compiled(
            update(tables.events)
            .where(events.call_id == bindparam("claimed"))
            .values(call_id=null()),
            ["claimed"],
        )

    @staticmethod
    def run(conn: Connection, sql: str, rows: list[Row]) -> None:
        """Execute one of this object's statements for every row (nothing when none)."""
        if rows:
            conn.exec_driver_sql(sql, rows)

    def message(self, msg: RawMessage) -> Row:
        """A ``sip_messages`` row."""
        return (
            msg.at,
            msg.digest,
            self.time(msg.at),
            address_text(msg.src),
            address_text(msg.dst),
            msg.transport,
            msg.first_line,
            msg.text,
            msg.leg,
            msg.call_id,
        )

    def event(self, event: LegEvent, call_id: str | None) -> Row:
        """An ``events`` row (``call_id``: the stored call that claims it, or None)."""
        at = event.at
        fields = json.dumps(event_fields(event))
        return (event.leg, at, event.kind, self.time(at), event.call_id, call_id, fields)

    def call(self, judged: JudgedCall, site: str) -> Row:
        """A ``calls`` row, its document the call in ``callwatch ingest``'s JSON."""
        call = judged.call
        t = self.time
        document = serialize.call_to_dict(call, judged.profile, judged.verdicts, judged.callback)
        return (
            call.id,
            site,
            call.direction,
            call.caller,
            call.dialled,
            call.department,
            judged.profile.id,
            t(call.started_at),
            call.started_at,
            t(call.first_ring_at),
            call.first_ring_at,
            t(call.answered_at),
            call.answered_at,
            t(call.ended_at),
            call.ended_at,
            call.ring_seconds,
            call.answered_by,
            call.hangup_by,
            call.missed,
            call.end_reason,
            call.complete,
            call.correlation,
            json.dumps(document),
        )

    def leg(self, call: Call, position: int) -> Row:
        """A ``legs`` row: the call's leg at ``position``."""
        leg = call.legs[position]
        t = self.time
        return (
            call.id,
            leg.leg,
            position,
            leg.call_id,
            leg.role,
            leg.from_user,
            leg.to_user,
            leg.dialled,
            t(leg.offered_at),
            leg.offered_at,
            t(leg.alerting_at),
            leg.alerting_at,
            t(leg.answered_at),
            leg.answered_at,
            leg.answered_by,
            t(leg.ended_at),
            leg.ended_at,
            leg.ended_by,
            leg.end_reason,
            t(leg.held_at),
            leg.held_at,
        )

    @staticmethod
    def verdict(call_id: str, source: str, position: int, v: Verdict) -> Row:
        """A ``verdicts`` row (``source``: ``call`` or ``callback``)."""
        return (
            call_id,
            source,
            position,
            v.rule,
            v.charter,
            v.ok,
            v.measured,
            v.limit,
            v.unit,
            v.rings,
            v.limit_rings,
            v.detail,
            json.dumps(list(v.evidence)),
        )

    def callback(self, cb: Callback, rank: int) -> Row:
        """A ``callbacks`` row (``rank``: how far it got, see ``store._rank``)."""
        t = self.time
        return (
            cb.call,
            cb.number,
            cb.department,
            cb.charter,
            t(cb.opened_at),
            cb.opened_at,
            t(cb.due_at),
            cb.due_at,
            t(cb.called_back_at),
            cb.called_back_at,
            cb.by,
            cb.status,
            cb.attempts,
            cb.requested,
            cb.delay_seconds,
            rank,
        )
