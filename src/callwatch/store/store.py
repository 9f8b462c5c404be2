"""The store: pipeline outputs in, calls (in ``callwatch ingest``'s JSON) out.

Synchronous SQLAlchemy Core, one transaction per :meth:`Store.save` batch, whose rows are made
before the transaction (:meth:`Store.encode`) and go to the driver through the writes of
:mod:`callwatch.store.bulk` (``executemany`` on SQLite, ``COPY`` on PostgreSQL). Saving is
idempotent, so a replayed batch, a capture ingested twice or the same packets from two capture
agents leave one copy of everything:

- a call is upserted on its id; its legs and rule verdicts are replaced, its leg events are
  upserted on (leg, time, kind). A complete call is never replaced by an incomplete copy of
  itself (an agent restarted mid-call); :meth:`Store.mark_incomplete` is the explicit way.
- a callback is upserted on its missed call's id only when it is not older than the stored one
  (``rank``: status progress, then attempts, then a requested time), so a late replay of
  "open" cannot undo "kept"; its verdicts are replaced with it.
- leg events saved on their own (before their call finished) are stored with no call; saving
  the call claims them. Those still unclaimed after a restart are the calls that were cut
  short: :meth:`Store.pending_events` hands them back (see :mod:`callwatch.store.recovery`).
- raw SIP messages are keyed by (capture time, SHA-1 of the text).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, and_, delete, exists, func, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from callwatch import records
from callwatch.calls.directory import Extension, ExtensionRange
from callwatch.charter.callbacks import Callback
from callwatch.charter.verdict import Verdict
from callwatch.pipeline import CallbackNews, JudgedCall
from callwatch.probe.tagging import call_tag
from callwatch.sip.events import LegEvent
from callwatch.site import SiteConfig
from callwatch.store import codec, tables
from callwatch.store.bulk import Bulk, Row
from callwatch.store.database import current_revision, make_engine, migrate
from callwatch.store.errors import StoreError, StoreUnavailable
from callwatch.store.rawsip import RawMessage

_CHUNK = 500
_STATUS_RANK = {"open": 0, "missed": 1, "kept": 2, "late": 2}


@dataclass(frozen=True, slots=True)
class VerdictCount:
    """How many verdicts of ``rule`` were ``ok`` (or not) in ``department``."""

    rule: str
    department: str | None
    ok: bool
    count: int


class Store:
    """Calls, verdicts, callbacks and raw SIP in one database (SQLite file or PostgreSQL).

    ``site`` fills the ``site`` column of the calls saved through this store; a call saved
    from one of ``probe_callers`` (the setting ``probe_user``) or holding a probe's
    Call-ID is tagged ``probe`` (:func:`callwatch.probe.tagging.call_tag`).
    """

    def __init__(
        self, engine: Engine, *, site: str = "", probe_callers: Collection[str] = ()
    ) -> None:
        self.engine = engine
        self.site = site
        self.probe_callers = probe_callers
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise StoreError(f"unsupported database {dialect!r} (use SQLite or PostgreSQL)")
        self._bulk: Bulk | None = None

    @property
    def bulk(self) -> Bulk:
        """The write path's statements for this store's database, compiled on first use."""
        if self._bulk is None:
            self._bulk = Bulk(self.engine.dialect)
        return self._bulk

    @classmethod
    def open(cls, url: str, *, site: str = "", probe_callers: Collection[str] = ()) -> Store:
        """A store on ``url`` (``sqlite:///file`` or ``postgresql+psycopg://...``); nothing is
        connected until first use."""
        return cls(make_engine(url), site=site, probe_callers=probe_callers)

    def close(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (``alembic upgrade head``)."""
        self._guard(lambda: migrate(self.engine))

    def revision(self) -> str | None:
        """The schema revision of the database (None: empty database)."""
        return self._guard(lambda: current_revision(self.engine))

    # -- writing -----------------------------------------------------------------------------

    def save(self, items: Iterable[codec.StoreItem]) -> int:
        """Write a batch of pipeline outputs (and raw SIP messages) in one transaction; return
        how many items it held. Raises :class:`StoreUnavailable` when the database cannot be
        reached (the batch is then not written at all) and :class:`StoreError` otherwise."""
        rows = self.encode(items)
        if rows.size:
            self.write(rows)
        return rows.size

    def encode(self, items: Iterable[codec.StoreItem]) -> Batch:
        """The rows of a batch of pipeline outputs (and raw SIP messages), made outside any
        transaction; :meth:`write` writes them. Raises :class:`StoreError` for an item the
        store cannot hold."""
        return Batch(self, list(items))

    def write(self, rows: Batch) -> None:
        """Write the rows of :meth:`encode` in one transaction (see :meth:`save`)."""
        self._transaction(rows.write)

    def save_messages(self, messages: Iterable[RawMessage]) -> int:
        """Write raw SIP messages (duplicates are ignored); return how many were given."""
        return self.save(messages)

    def sync_directory(self, site: SiteConfig) -> None:
        """Replace this site's departments and extension ranges with those of ``site``."""

        def write(conn: Connection) -> None:
            for table in (tables.departments, tables.extensions):
                conn.execute(delete(table).where(table.c.site == site.name))
            deps = site.directory.departments
            if not deps:
                return
            conn.execute(
                tables.departments.insert(),
                [
                    {
                        "site": site.name,
                        "name": d.name,
                        "name_en": d.name_en,
                        "charter": d.charter,
                        "numbers": list(d.numbers),
                    }
                    for d in deps
                ],
            )
            ranges = [
                {"site": site.name, "first": first, "last": last, "department": d.name}
                for d in deps
                for first, last in map(_extension_ends, d.extensions)
            ]
            if ranges:
                conn.execute(tables.extensions.insert(), ranges)

        self._transaction(write)

    def mark_incomplete(self, call_ids: Iterable[str]) -> int:
        """Record stored calls as cut short (a restart): ``complete`` false, their verdicts and
        the callback they opened removed, as the rules never judge an incomplete call. Return
        how many calls were found."""
        ids = sorted(set(call_ids))

        def write(conn: Connection) -> int:
            found = 0
            for chunk in chunks(ids):
                rows = conn.execute(
                    select(tables.calls.c.id, tables.calls.c.document).where(
                        tables.calls.c.id.in_(chunk)
                    )
                ).all()
                for call_id, doc in rows:
                    doc = dict(doc, complete=False, verdicts=[], callback=None)
                    conn.execute(
                        update(tables.calls)
                        .where(tables.calls.c.id == call_id)
                        .values(complete=False, document=doc)
                    )
                found += len(rows)
                conn.execute(delete(tables.verdicts).where(tables.verdicts.c.call_id.in_(chunk)))
                conn.execute(delete(tables.callbacks).where(tables.callbacks.c.call_id.in_(chunk)))
            return found

        return self._transaction(write)

    def purge_messages(self, before: int) -> int:
        """Delete raw SIP messages captured before ``before`` (µs); return how many."""
        stmt = delete(tables.sip_messages).where(tables.sip_messages.c.at_us < before)
        return self._transaction(lambda conn: conn.execute(stmt).rowcount)

    # -- reading -----------------------------------------------------------------------------

    def export_calls(
        self,
        since: int | None = None,
        until: int | None = None,
        *,
        department: str | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Stored calls begun in ``[since, until)`` (µs), oldest first, each exactly as
        ``callwatch ingest`` prints it, with the callback as currently stored."""
        c = tables.calls.c
        last: tuple[int, str] | None = None
        while True:
            query = select(c.id, c.started_us, c.document).order_by(c.started_us, c.id)
            if since is not None:
                query = query.where(c.started_us >= since)
            if until is not None:
                query = query.where(c.started_us < until)
            if department is not None:
                query = query.where(c.department == department)
            if last is not None:
                query = query.where(
                    or_(c.started_us > last[0], and_(c.started_us == last[0], c.id > last[1]))
                )
            page = self._guard(lambda q=query: self._page(q.limit(_CHUNK)))
            yield from (doc for _, _, doc in page)
            if len(page) < _CHUNK:
                return
            last = (page[-1][1], page[-1][0])

    def calls(
        self, department: str | None = None, since: int | None = None, until: int | None = None
    ) -> list[dict[str, Any]]:
        """Calls of ``department`` (all when None) begun in ``[since, until)``."""
        return list(self.export_calls(since, until, department=department))

    def call(self, call_id: str) -> dict[str, Any] | None:
        """One stored call in ``callwatch ingest``'s JSON, or None."""
        query = select(tables.calls.c.id, tables.calls.c.started_us, tables.calls.c.document)
        page = self._guard(lambda: self._page(query.where(tables.calls.c.id == call_id)))
        return page[0][2] if page else None

    def verdict_counts(
        self, since: int | None = None, until: int | None = None, department: str | None = None
    ) -> list[VerdictCount]:
        """Verdicts counted by rule, department and outcome, for calls begun in
        ``[since, until)`` (a callback verdict counts with its missed call); probe calls
        (tagged) are left out."""
        v, c = tables.verdicts.c, tables.calls.c
        query = (
            select(v.rule, c.department, v.ok, func.count())
            .join_from(tables.verdicts, tables.calls, v.call_id == c.id)
            .group_by(v.rule, c.department, v.ok)
            .order_by(v.rule, c.department, v.ok)
        )
        if since is not None:
            query = query.where(c.started_us >= since)
        if until is not None:
            query = query.where(c.started_us < until)
        if department is not None:
            query = query.where(c.department == department)
        rows = self._guard(lambda: self._rows(query.where(c.tag.is_(None))))
        return [VerdictCount(r, d, bool(ok), n) for r, d, ok, n in rows]

    def callbacks(
        self, status: str | None = None, due_before: int | None = None, *, staff: bool = False
    ) -> list[Callback]:
        """Stored callbacks (of ``status``; due before ``due_before`` µs), oldest first;
        ``staff``: only those staff owe (not those of a probe call)."""
        cb, c = tables.callbacks.c, tables.calls.c
        query = select(tables.callbacks).order_by(cb.opened_us, cb.call_id)
        if staff:
            query = query.where(~exists().where(c.id == cb.call_id, c.tag.is_not(None)))
        if status is not None:
            query = query.where(cb.status == status)
        if due_before is not None:
            query = query.where(cb.due_us < due_before)
        return [callback_from_row(row) for row in self._guard(lambda: self._rows(query))]

    def pending_events(self) -> list[LegEvent]:
        """Leg events not (yet) part of a stored call, in time order: after a restart, the
        events of the calls that were going on."""
        e = tables.events.c
        query = (
            select(e.kind, e.at_us, e.leg, e.sip_call_id, e.fields)
            .where(e.call_id.is_(None))
            .order_by(e.at_us, e.leg, e.kind)
        )
        return [
            codec.event_from_dict(
                {"kind": kind, "at": at, "leg": leg, "call_id": call_id, **fields}
            )
            for kind, at, leg, call_id, fields in self._guard(lambda: self._rows(query))
        ]

    def messages(self, sip_call_ids: Sequence[str]) -> list[RawMessage]:
        """Raw SIP messages of the given Call-IDs in capture order (a call's ladder)."""
        m = tables.sip_messages.c
        query = (
            select(m.at_us, m.src, m.dst, m.transport, m.sip_call_id, m.text, m.leg)
            .where(m.sip_call_id.in_(list(sip_call_ids)))
            .order_by(m.at_us, m.digest)
        )
        return [
            RawMessage(at, _address(src), _address(dst), transport, call_id, text, leg)
            for at, src, dst, transport, call_id, text, leg in self._guard(
                lambda: self._rows(query)
            )
        ]

    def counts(self) -> dict[str, int]:
        """Rows per table (for tests, benchmarks and health checks)."""

        def read(conn: Connection) -> dict[str, int]:
            return {
                t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
                for t in tables.metadata.sorted_tables
            }

        return self._guard(lambda: self._read(read))

    # -- helpers -----------------------------------------------------------------------------

    def _page(self, query: Any) -> list[tuple[str, int, dict[str, Any]]]:
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
            verdicts, callbacks = judgements(conn, [r[0] for r in rows])
        page = []
        for call_id, started, doc in rows:
            doc = dict(doc)
            doc["verdicts"] = [records.verdict_builtins(v) for v in verdicts.get(call_id, ())]
            if call_id in callbacks:
                doc["callback"] = records.callback_builtins(callbacks[call_id])
            page.append((call_id, started, doc))
        return page

    def _rows(self, query: Any) -> list[Any]:
        with self.engine.connect() as conn:
            return list(conn.execute(query).all())

    def _read(self, fn: Any) -> Any:
        with self.engine.connect() as conn:
            return fn(conn)

    def _transaction(self, fn: Any) -> Any:
        def run() -> Any:
            with self.engine.begin() as conn:
                return fn(conn)

        return self._guard(run)

    def _guard(self, fn: Any) -> Any:
        try:
            return fn()
        except (OperationalError, InterfaceError) as exc:
            raise StoreUnavailable(f"database unavailable: {_reason(exc)}") from exc
        except DBAPIError as exc:
            raise StoreError(f"database error: {_reason(exc)}") from exc


class Batch:
    """One save's rows, made before the transaction (:meth:`Store.encode`) and written in it
    (:meth:`write`): every record is turned into its row once, and written once.

    A leg event that arrives on its own and again inside its call in the same batch is one
    ``events`` row, the call's; a raw message or event seen twice is one row. What must be
    looked up first (is the call stored complete already, is the stored callback further on)
    decides at write time which of the rows go out; the legs and verdicts of a call (or
    callback) are deleted before they are written again only when it is stored already.
    """

    def __init__(self, store: Store, batch: Sequence[codec.StoreItem]) -> None:
        bulk = self.bulk = store.bulk
        self.size = len(batch)
        self.messages: dict[tuple[int, str], Row] = {}
        alone: dict[tuple[str, int, str], tuple[LegEvent, Row]] = {}
        self.calls: dict[str, _CallRows] = {}
        callbacks: dict[str, tuple[Callback, list[Verdict] | None]] = {}
        message, event = bulk.message, bulk.event
        for item in batch:
            if isinstance(item, RawMessage):
                row = message(item)
                self.messages[(row[0], row[1])] = row  # (at_us, digest)
            elif isinstance(item, LegEvent):
                key = (item.leg, item.at, item.kind)
                if key not in alone:
                    alone[key] = (item, event(item, None))
            elif isinstance(item, JudgedCall):
                self.calls[item.call.id] = _CallRows(item, store, alone)
                if item.callback is not None:
                    _keep_callback(callbacks, item.callback, None)
            elif isinstance(item, CallbackNews):
                _keep_callback(callbacks, item.callback, item.verdicts)
            else:
                raise StoreError(f"cannot store {type(item).__name__}")
        self.events = {key: row for key, (_, row) in alone.items()}
        self.callbacks = {
            call_id: (_rank(cb), bulk.callback(cb, _rank(cb)), verdicts)
            for call_id, (cb, verdicts) in callbacks.items()
        }

    def write(self, conn: Connection) -> None:
        """Write the rows in ``conn``'s transaction."""
        bulk = self.bulk
        calls, claimed = self._calls(conn)
        unclaimed = [row for key, row in self.events.items() if key not in claimed]
        bulk.run(conn, bulk.insert_events, unclaimed)
        if calls:
            stored = [(c.call_id,) for c in calls if c.stored]
            bulk.run(conn, bulk.upsert_calls, [c.row for c in calls])
            bulk.run(conn, bulk.delete_legs, stored)
            bulk.run(conn, bulk.delete_verdicts, [(i, "call") for (i,) in stored])
            bulk.run(conn, bulk.release_events, stored)
            bulk.run(conn, bulk.insert_legs, [row for c in calls for row in c.legs])
            bulk.run(conn, bulk.insert_verdicts, [row for c in calls for row in c.verdicts])
            bulk.run(conn, bulk.upsert_events, list(claimed.values()))
        self._write_callbacks(conn)
        bulk.run(conn, bulk.insert_messages, list(self.messages.values()))

    def _calls(self, conn: Connection) -> tuple[list[_CallRows], dict[tuple[str, int, str], Row]]:
        """The calls to write (not an incomplete copy of a call stored complete), each marked
        whether it is stored already, and the events they claim (the last call's row wins)."""
        if not self.calls:
            return [], {}
        c = tables.calls.c
        complete = dict(_existing(conn, c.id, c.complete, list(self.calls)))
        calls = []
        claimed: dict[tuple[str, int, str], Row] = {}
        for rows in self.calls.values():
            stored = complete.get(rows.call_id)
            if stored and not rows.complete:
                continue
            rows.stored = stored is not None
            calls.append(rows)
            claimed.update(rows.events)
        return calls, claimed

    def _write_callbacks(self, conn: Connection) -> None:
        if not self.callbacks:
            return
        bulk = self.bulk
        cb = tables.callbacks.c
        stored = dict(_existing(conn, cb.call_id, cb.rank, list(self.callbacks)))
        fresh = [
            (call_id, row, verdicts)
            for call_id, (rank, row, verdicts) in self.callbacks.items()
            if rank >= stored.get(call_id, -1)
        ]
        if not fresh:
            return
        bulk.run(conn, bulk.upsert_callbacks, [row for _, row, _ in fresh])
        judged = [(call_id, verdicts) for call_id, _, verdicts in fresh if verdicts is not None]
        replaced = [(call_id, "callback") for call_id, _ in judged if call_id in stored]
        bulk.run(conn, bulk.delete_verdicts, replaced)
        rows = [
            bulk.verdict(call_id, "callback", i, v)
            for call_id, verdicts in judged
            for i, v in enumerate(verdicts or ())
        ]
        bulk.run(conn, bulk.insert_verdicts, rows)


class _CallRows:
    """A judged call's rows: the call, its legs, verdicts and leg events. An event that came
    on its own earlier in the batch (the same event) keeps the row made then, claimed."""

    __slots__ = ("call_id", "complete", "events", "legs", "row", "stored", "verdicts")

    def __init__(
        self,
        judged: JudgedCall,
        store: Store,
        alone: dict[tuple[str, int, str], tuple[LegEvent, Row]],
    ) -> None:
        bulk = store.bulk
        call = judged.call
        self.call_id = call_id = call.id
        self.complete = call.complete
        self.stored = False
        self.row = bulk.call(judged, store.site, call_tag(call, store.probe_callers))
        self.legs = [bulk.leg(call, i) for i in range(len(call.legs))]
        self.verdicts = [bulk.verdict(call_id, "call", i, v) for i, v in enumerate(judged.verdicts)]
        events: dict[tuple[str, int, str], Row] = {}
        for leg in call.legs:
            for event in leg.events:
                key = (event.leg, event.at, event.kind)
                seen = alone.get(key)
                if seen is not None and seen[0] is event:  # one object in one request
                    events[key] = bulk.claimed(seen[1], call_id)
                else:
                    events[key] = bulk.event(event, call_id)
        self.events = events


def _keep_callback(
    held: dict[str, tuple[Callback, list[Verdict] | None]],
    cb: Callback,
    verdicts: list[Verdict] | None,
) -> None:
    """Keep the furthest news of each callback in a batch (a later one of equal rank wins,
    keeping the verdicts an earlier one brought when it brings none)."""
    before = held.get(cb.call)
    if before is not None and _rank(before[0]) > _rank(cb):
        return
    if before is not None and verdicts is None:
        verdicts = before[1]
    held[cb.call] = (cb, verdicts)


def _existing(conn: Connection, key: Any, value: Any, ids: list[str]) -> list[Any]:
    found: list[Any] = []
    for chunk in chunks(ids):
        found.extend(conn.execute(select(key, value).where(key.in_(chunk))).all())
    return found


def chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    """``items`` in slices small enough for an ``IN (...)`` on every database."""
    for start in range(0, len(items), _CHUNK):
        yield items[start : start + _CHUNK]


def judgements(
    conn: Connection, call_ids: Sequence[str]
) -> tuple[dict[str, list[Verdict]], dict[str, Callback]]:
    """The current verdicts of each call (the call's own, then its callback's, in order) and
    the callback each missed call opened."""
    ranked: dict[str, list[tuple[int, int, Verdict]]] = {}
    callbacks: dict[str, Callback] = {}
    for chunk in chunks(call_ids):
        for row in conn.execute(
            select(tables.verdicts).where(tables.verdicts.c.call_id.in_(chunk))
        ).mappings():
            key = (0 if row["source"] == "call" else 1, row["position"])
            ranked.setdefault(row["call_id"], []).append((*key, _verdict(row)))
        for row in conn.execute(
            select(tables.callbacks).where(tables.callbacks.c.call_id.in_(chunk))
        ).mappings():
            callbacks[row["call_id"]] = callback_from_row(row)
    verdicts = {
        call_id: [v for _, _, v in sorted(items, key=lambda item: item[:2])]
        for call_id, items in ranked.items()
    }
    return verdicts, callbacks


def _rank(cb: Callback) -> int:
    progress = _STATUS_RANK[cb.status] * 1_000_000 + min(cb.attempts, 999_999)
    return cb.requested * 10_000_000 + progress


def _verdict(row: Any) -> Verdict:
    return Verdict(
        rule=row["rule"],
        charter=row["charter"],
        ok=bool(row["ok"]),
        measured=row["measured"],
        limit=row["limit"],
        unit=row["unit"],
        detail=row["detail"],
        rings=row["rings"],
        limit_rings=row["limit_rings"],
        evidence=tuple(row["evidence"]),
    )


def callback_from_row(row: Any) -> Callback:
    """A stored ``callbacks`` row as a :class:`Callback`."""
    m = row._mapping if hasattr(row, "_mapping") else row
    return Callback(
        call=m["call_id"],
        number=m["number"],
        department=m["department"],
        charter=m["charter"],
        opened_at=m["opened_us"],
        due_at=m["due_us"],
        called_back_at=m["called_back_us"],
        by=m["by"],
        status=m["status"],
        attempts=m["attempts"],
        requested=bool(m["requested"]),
    )


def _address(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    return host.strip("[]"), int(port)


def _reason(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)


def _extension_ends(extension: Extension) -> tuple[str, str]:
    """The ``first`` and ``last`` columns of a directory entry: a range's ends, or a named
    phone or pattern as written at both ends."""
    if isinstance(extension, ExtensionRange):
        return extension.first, extension.last
    return extension.text, extension.text
