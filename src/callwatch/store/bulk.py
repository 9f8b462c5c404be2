"""The store's busy writes at the driver level: statements made once, rows as tuples.

:meth:`Store.save <callwatch.store.Store.save>` takes thousands of rows a second, and
SQLAlchemy's per-row work (building each row's parameters, running each column's bind
processor) cost more than the database itself. :class:`Bulk` makes each write of the write
path once for the engine's dialect and hands rows to the driver directly:

- on SQLite, ``executemany`` of a statement compiled once (``INSERT``, ``INSERT ... ON
  CONFLICT``), inside the caller's one transaction;
- on PostgreSQL, ``COPY ... FROM STDIN`` (psycopg's ``cursor.copy``): straight into the table
  for plain inserts, else into a temporary table of the same columns (``ON COMMIT DELETE
  ROWS``, made once per transaction) followed by one ``INSERT ... SELECT ... ON CONFLICT``.
  ``executemany`` of many small statements costs a round of the driver's pipeline per row;
  ``COPY`` streams the rows.

Its row makers produce, column by column in table order, values that read back through
SQLAlchemy exactly as SQLAlchemy's own bind processing would have written them:

- ``DateTime(timezone=True)``: the text SQLAlchemy's SQLite ``DATETIME`` stores
  (``YYYY-MM-DD HH:MM:SS.ffffff`` of the UTC time, no zone); on PostgreSQL the same text with
  ``+00``, which ``COPY`` reads as that UTC instant;
- ``JSON``: the text of ``json.dumps`` with its defaults, the serializer of both dialects as
  :func:`~callwatch.store.database.make_engine` makes the engine (PostgreSQL's ``json``
  keeps the text as sent);
- ``Boolean``: Python bools (sqlite3 stores 1 and 0); other values as they are.

``tests/test_store_bulk.py`` checks that each row maker and each write reads back as the
SQLAlchemy path does, on both databases.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Protocol

from sqlalchemy import Column, MetaData, Table, bindparam, delete, null, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.exc import DBAPIError

from callwatch.calls.model import Call
from callwatch.charter.callbacks import Callback
from callwatch.charter.verdict import Verdict
from callwatch.pipeline import JudgedCall
from callwatch.records import call_builtins
from callwatch.sip.events import LegEvent
from callwatch.store import tables
from callwatch.store.codec import field_names
from callwatch.store.rawsip import RawMessage, address_text

Row = tuple[Any, ...]
"""One row's values in the order of its table's columns."""

EVENT_COLUMNS: Final = ("kind", "at", "leg", "call_id")
"""Fields of a leg event that have columns of their own (the rest go to ``fields``)."""

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_SECONDS: Final[dict[int, str]] = {}
_SECONDS_LIMIT: Final = 65_536
_COPY_PREFIX: Final = "callwatch_copy_"
_TRANSACTION: Final = "callwatch.bulk.transaction"
_dumps: Final = json.JSONEncoder().encode  # json.dumps with its defaults, minus the call


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


def postgres_time(us: int | None) -> str | None:
    """Capture microseconds as ``timestamptz`` input text of that UTC instant (what ``COPY``
    is handed): ``2026-11-23 01:02:03.000456+00``."""
    return None if us is None else f"{sqlite_time(us)}+00"


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


class Write(Protocol):
    """One write of the write path: its rows (tuples in the table's column order, or the
    statement's parameters) go to the database on ``conn``, in the caller's transaction."""

    def __call__(self, conn: Connection, rows: list[Row]) -> None: ...


class _Many:
    """``executemany`` of one compiled statement."""

    def __init__(self, sql: str) -> None:
        self.sql = sql

    def __call__(self, conn: Connection, rows: list[Row]) -> None:
        if rows:
            conn.exec_driver_sql(self.sql, rows)

    def __str__(self) -> str:
        return self.sql


class _Copy:
    """PostgreSQL: ``COPY`` the rows into ``table``; with ``then`` (an ``INSERT ... SELECT``
    from the copy table, ``ON CONFLICT ...``), into a temporary table of its columns first and
    from there with ``then``.

    ``optimistic``: first ``COPY`` straight into ``table`` behind a savepoint, which holds
    when no row is stored yet (new calls, messages and events, the live case); on a unique
    violation the savepoint is rolled back and the rows take the way through the copy table.
    """

    def __init__(self, table: Table, then: str | None = None, *, optimistic: bool = False) -> None:
        columns = ", ".join(f'"{c.name}"' for c in table.columns)
        self.direct = f'COPY "{table.name}" ({columns}) FROM STDIN'
        copied = f'"{_COPY_PREFIX}{table.name}"'
        self.copy = f"COPY {copied} ({columns}) FROM STDIN"
        self.then = None if then is None else f"{then}; DELETE FROM {copied}"
        self.optimistic = optimistic and then is not None

    def __call__(self, conn: Connection, rows: list[Row]) -> None:
        if not rows:
            return
        dbapi = conn.dialect.loaded_dbapi
        driver: Any = conn.connection.driver_connection  # psycopg's, in the caller's transaction
        try:
            with driver.cursor() as cursor:
                if self.then is None:
                    _copy(cursor, self.direct, rows)
                    return
                if self.optimistic:
                    cursor.execute("SAVEPOINT callwatch_copy")
                    try:
                        _copy(cursor, self.direct, rows)
                    except dbapi.IntegrityError as exc:
                        if getattr(exc, "sqlstate", None) != _UNIQUE_VIOLATION:
                            raise
                        cursor.execute("ROLLBACK TO SAVEPOINT callwatch_copy")
                    else:
                        cursor.execute("RELEASE SAVEPOINT callwatch_copy")
                        return
                transaction = conn.get_transaction()
                if conn.info.get(_TRANSACTION) is not transaction:
                    cursor.execute(_TEMPORARY_TABLES)
                    conn.info[_TRANSACTION] = transaction
                _copy(cursor, self.copy, rows)
                cursor.execute(self.then)
        except dbapi.Error as exc:
            raise DBAPIError.instance(self.copy, None, exc, dbapi.Error) from exc

    def __str__(self) -> str:
        return self.direct if self.then is None else f"{self.copy}; {self.then}"


def _copy(cursor: Any, sql: str, rows: list[Row]) -> None:
    with cursor.copy(sql) as copy:
        write = copy.write_row
        for row in rows:
            write(row)


_UNIQUE_VIOLATION: Final = "23505"


_TEMPORARY_TABLES: Final = "; ".join(
    f'CREATE TEMPORARY TABLE IF NOT EXISTS "{_COPY_PREFIX}{t.name}" '
    f'(LIKE "{t.name}") ON COMMIT DELETE ROWS'
    for t in (tables.events, tables.calls, tables.callbacks, tables.sip_messages)
)
"""The temporary tables of :class:`_Copy` (made once in each transaction that uses one; a
rolled-back transaction takes them with it)."""


class Bulk:
    """The write path's writes made for one dialect, and its rows made for them."""

    def __init__(self, dialect: Dialect) -> None:
        postgres = dialect.name == "postgresql"
        self.time: Callable[[int | None], str | None] = postgres_time if postgres else sqlite_time
        compiler = _positional(dialect)
        insert = postgresql.insert if postgres else sqlite.insert

        def compiled(stmt: Any, params: Sequence[str]) -> str:
            done = stmt.compile(dialect=compiler)
            if tuple(done.positiontup or ()) != tuple(params):  # the rows must match it
                raise RuntimeError(f"{stmt}: parameters {done.positiontup} != {params}")
            return str(done)

        def source(table: Table) -> tuple[Any, list[str]]:
            """The INSERT of every column, from the rows or (PostgreSQL) the copy table."""
            columns = [c.name for c in table.columns]
            if not postgres:
                return insert(table), columns
            copied = Table(
                f"{_COPY_PREFIX}{table.name}",
                MetaData(),
                *(Column(c.name, c.type) for c in table.c),
            )
            return insert(table).from_select(columns, copied.select()), []

        def done(stmt: Any, params: Sequence[str], table: Table, optimistic: bool) -> Write:
            if not postgres:
                return _Many(compiled(stmt, params))
            return _Copy(table, str(stmt.compile(dialect=compiler)), optimistic=optimistic)

        def upsert(
            table: Table, keys: Sequence[str], where: Any = None, *, optimistic: bool = True
        ) -> Write:
            stmt, params = source(table)
            changes = {c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys}
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_=changes, where=where)
            return done(stmt, params, table, optimistic)

        def ignore(table: Table) -> Write:
            stmt, params = source(table)
            return done(stmt.on_conflict_do_nothing(), params, table, True)

        def plain(table: Table) -> Write:
            if postgres:
                return _Copy(table)
            stmt, params = source(table)
            return _Many(compiled(stmt, params))

        self.insert_messages = ignore(tables.sip_messages)
        self.insert_events = ignore(tables.events)
        # A call's events were mostly stored already, on their own (unclaimed).
        self.upsert_events = upsert(tables.events, ("leg", "at_us", "kind"), optimistic=False)
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
        self.delete_legs = _Many(
            compiled(delete(tables.legs).where(legs.call_id == bindparam("call_id")), ["call_id"])
        )
        self.delete_verdicts = _Many(
            compiled(
                delete(tables.verdicts).where(
                    verdicts.call_id == bindparam("call_id"),
                    verdicts.source == bindparam("source"),
                ),
                ["call_id", "source"],
            )
        )
        self.release_events = _Many(
            compiled(
                update(tables.events)
                .where(events.call_id == bindparam("claimed"))
                .values(call_id=null()),
                ["claimed"],
            )
        )

    @staticmethod
    def run(conn: Connection, write: Write, rows: list[Row]) -> None:
        """Run one of this object's writes for every row (nothing when none)."""
        write(conn, rows)

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
        fields = _dumps(event_fields(event))
        return (event.leg, at, event.kind, self.time(at), event.call_id, call_id, fields)

    @staticmethod
    def claimed(row: Row, call_id: str) -> Row:
        """The ``events`` row ``row`` (made by :meth:`event`) claimed by ``call_id``."""
        return (*row[:5], call_id, *row[6:])

    def call(self, judged: JudgedCall, site: str, tag: str | None = None) -> Row:
        """A ``calls`` row, its document the call in ``callwatch ingest``'s JSON; ``tag``
        marks a call that is not a citizen's (``probe``)."""
        call = judged.call
        t = self.time
        document = call_builtins(call, judged.profile, judged.verdicts, judged.callback)
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
            _dumps(document),
            tag,
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
            _dumps(list(v.evidence)),
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
