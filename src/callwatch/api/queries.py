"""The API's reads (and its one write) on the store's tables, with SQLAlchemy Core.

Lists are pages in a stable order, newest first, with keyset paging: each page ends with the
sort key of its last row, and the next page starts after it (``started_us``, then the call id,
then the verdict's place), so rows written meanwhile never shift a page. Calls come out as
``callwatch ingest`` prints them, with their current verdicts and callback merged in as
:meth:`callwatch.store.Store.call` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from sqlalchemy import Select, and_, exists, not_, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from callwatch import records
from callwatch.api.errors import Unavailable
from callwatch.calls.directory import normalize_number
from callwatch.charter.callbacks import Callback
from callwatch.pipeline import CallbackNews
from callwatch.store import Store, StoreError, StoreUnavailable, codec, tables
from callwatch.store.store import callback_from_row, chunks, judgements
from callwatch.timefmt import iso, iso_or_none

_T = TypeVar("_T")

Tag = Literal["staff", "probe", "all"]
TAGS: tuple[Tag, ...] = ("staff", "probe", "all")
"""What the lists keep to: ``staff`` the calls that count against staff (``calls.tag`` NULL),
``probe`` callwatch's own probe calls (tagged ``probe``), ``all`` both."""


@dataclass(frozen=True, slots=True)
class CallFilter:
    """What ``/api/calls``, ``/api/breaches`` and the explorer narrow to (None: no condition).
    ``departments`` is the scope of the token (or the one asked).

    ``caller`` is a number's digits (:func:`number_digits`) and ``call`` a Call-ID: with
    ``exact`` (a viewer whose numbers are masked) they match only a whole caller number or a
    whole Call-ID, so a search never reveals a hidden digit; otherwise any part of them.

    ``tag`` keeps to the staff's calls (``staff``, the default: untagged), to callwatch's own
    probe calls (``probe``) or lists both (``all``): see :data:`TAGS`."""

    site: str
    departments: Sequence[str] | None = None
    extension: str | None = None
    rule: str | None = None
    breached: bool | None = None
    since: int | None = None
    until: int | None = None
    caller: str | None = None
    call: str | None = None
    exact: bool = False
    tag: Tag = "staff"


def number_digits(text: str) -> str | None:
    """A searched number as the store keeps callers: separators dropped, ``+82`` as ``0``;
    None when ``text`` holds no digit or anything but a number."""
    value = normalize_number(text.strip()) or ""
    return value if value.isdigit() and value.isascii() else None


@dataclass(frozen=True, slots=True)
class Page:
    """Rows of one page and the sort key of its last row (None: no more pages)."""

    rows: list[dict[str, Any]]
    next_key: list[Any] | None


def read(store: Store, fn: Callable[[Connection], _T]) -> _T:
    """Run ``fn`` on a connection of ``store``; 503 when the database is away."""
    try:
        with store.engine.connect() as conn:
            return fn(conn)
    except (OperationalError, InterfaceError) as exc:
        raise Unavailable(f"the store cannot be reached: {_reason(exc)}") from None
    except DBAPIError as exc:
        raise Unavailable(f"the store failed: {_reason(exc)}") from None


# -- calls ----------------------------------------------------------------------------------


def calls_page(store: Store, where: CallFilter, limit: int, after: list[Any] | None) -> Page:
    """Calls matching ``where``, newest first, ``limit`` of them after the key ``after``."""
    c = tables.calls.c
    query = call_conditions(select(tables.calls), where)
    if after is not None:
        query = query.where(
            or_(c.started_us < after[0], and_(c.started_us == after[0], c.id < after[1]))
        )
    query = query.order_by(c.started_us.desc(), c.id.desc()).limit(limit + 1)

    def run(conn: Connection) -> Page:
        rows = conn.execute(query).mappings().all()
        more = len(rows) > limit
        rows = rows[:limit]
        docs = _documents(conn, rows)
        key = [rows[-1]["started_us"], rows[-1]["id"]] if more and rows else None
        return Page(docs, key)

    return read(store, run)


def call_detail(store: Store, site: str, call_id: str) -> dict[str, Any] | None:
    """One call of ``site`` with its events and SIP messages (None when there is none)."""
    c, e, legs, m = tables.calls.c, tables.events.c, tables.legs.c, tables.sip_messages.c

    def run(conn: Connection) -> dict[str, Any] | None:
        query = select(tables.calls).where(c.id == call_id, c.site == site)
        row = conn.execute(query).mappings().first()
        if row is None:
            return None
        doc = _documents(conn, [row])[0]
        events = [
            _event({"kind": kind, "at": at, "leg": leg, "call_id": sip_id, **fields})
            for kind, at, leg, sip_id, fields in conn.execute(
                select(e.kind, e.at_us, e.leg, e.sip_call_id, e.fields)
                .where(e.call_id == call_id)
                .order_by(e.at_us, e.leg, e.kind)
            )
        ]
        sip_ids = sorted(
            set(doc.get("legs") or ())
            | {r[0] for r in conn.execute(select(legs.sip_call_id).where(legs.call_id == call_id))}
        )
        query = select(
            m.at_us, m.src, m.dst, m.transport, m.sip_call_id, m.leg, m.first_line, m.text
        )
        messages = [
            row
            for chunk in chunks(sip_ids)
            for row in conn.execute(query.where(m.sip_call_id.in_(chunk)))
        ]
        messages.sort(key=lambda r: (r[0], r[4], r[6]))
        return {
            "call": doc,
            "events": events,
            "messages": [
                {
                    "at": iso(at),
                    "src": src,
                    "dst": dst,
                    "transport": transport,
                    "sip_call_id": sip_id,
                    "leg": leg,
                    "first_line": first,
                    "text": text,
                }
                for at, src, dst, transport, sip_id, leg, first, text in messages
            ],
        }

    return read(store, run)


# -- breaches -------------------------------------------------------------------------------


def breaches_page(store: Store, where: CallFilter, limit: int, after: list[Any] | None) -> Page:
    """Failed verdicts of the calls matching ``where`` (``breached`` is ignored), newest call
    first, then by call id, source and place."""
    v, c = tables.verdicts.c, tables.calls.c
    base = replace(where, rule=None, breached=None)
    query = call_conditions(
        select(
            v.call_id,
            v.source,
            v.position,
            v.rule,
            v.charter,
            v.measured,
            v.limit,
            v.unit,
            v.rings,
            v.limit_rings,
            v.detail,
            c.department,
            c.direction,
            c.caller,
            c.answered_by,
            c.started_us,
            c.tag,
        ).join_from(tables.verdicts, tables.calls, v.call_id == c.id),
        base,
    ).where(v.ok.is_(False))
    if where.rule is not None:
        query = query.where(v.rule == where.rule)
    if after is not None:
        s, call, source, pos = after
        query = query.where(
            or_(
                c.started_us < s,
                and_(c.started_us == s, v.call_id < call),
                and_(c.started_us == s, v.call_id == call, v.source < source),
                and_(c.started_us == s, v.call_id == call, v.source == source, v.position < pos),
            )
        )
    query = query.order_by(
        c.started_us.desc(), v.call_id.desc(), v.source.desc(), v.position.desc()
    ).limit(limit + 1)

    def run(conn: Connection) -> Page:
        rows = conn.execute(query).mappings().all()
        more = len(rows) > limit
        rows = rows[:limit]
        items = [
            {
                "call": r["call_id"],
                "source": r["source"],
                "department": r["department"],
                "direction": r["direction"],
                "caller": r["caller"],
                "answered_by": r["answered_by"],
                "started_at": iso(r["started_us"]),
                **{k: r[k] for k in ("rule", "charter", "measured", "limit", "unit")},
                **{k: r[k] for k in ("rings", "limit_rings", "detail")},
                "tag": r["tag"],
            }
            for r in rows
        ]
        last = rows[-1] if more and rows else None
        key = (
            None
            if last is None
            else [last["started_us"], last["call_id"], last["source"], last["position"]]
        )
        return Page(items, key)

    return read(store, run)


# -- callbacks ------------------------------------------------------------------------------


def callbacks_page(
    store: Store,
    *,
    status: str | None,
    departments: Sequence[str] | None,
    since: int | None,
    until: int | None,
    limit: int,
    after: list[Any] | None,
    tag: Tag = "staff",
) -> Page:
    """Callbacks (of ``status``, of ``departments``, opened in ``[since, until)``, of the
    calls ``tag`` keeps to), newest first."""
    cb, c = tables.callbacks.c, tables.calls.c
    query = select(tables.callbacks)
    if tag != "all":
        if tag == "staff":
            query = query.where(~exists().where(c.id == cb.call_id, c.tag.is_not(None)))
        else:
            query = query.where(exists().where(c.id == cb.call_id, c.tag == tag))
    if status is not None:
        query = query.where(cb.status == status)
    if departments is not None:
        query = query.where(cb.department.in_(list(departments)))
    if since is not None:
        query = query.where(cb.opened_us >= since)
    if until is not None:
        query = query.where(cb.opened_us < until)
    if after is not None:
        query = query.where(
            or_(cb.opened_us < after[0], and_(cb.opened_us == after[0], cb.call_id < after[1]))
        )
    query = query.order_by(cb.opened_us.desc(), cb.call_id.desc()).limit(limit + 1)

    def run(conn: Connection) -> Page:
        rows = conn.execute(query).mappings().all()
        more = len(rows) > limit
        rows = rows[:limit]
        key = [rows[-1]["opened_us"], rows[-1]["call_id"]] if more and rows else None
        return Page([callback_dict(callback_from_row(r)) for r in rows], key)

    return read(store, run)


def waiting_callbacks(store: Store, departments: Sequence[str] | None) -> list[Callback]:
    """Callbacks still open or missed (those a caller's requested time can change)."""
    cb = tables.callbacks.c
    query = select(tables.callbacks).where(cb.status.in_(("open", "missed")))
    if departments is not None:
        query = query.where(cb.department.in_(list(departments)))
    query = query.order_by(cb.opened_us, cb.call_id)
    return read(store, lambda conn: [callback_from_row(r) for r in conn.execute(query).mappings()])


def save_callbacks(store: Store, news: Sequence[CallbackNews]) -> None:
    """Persist changed callbacks (and their verdicts) through the store's idempotent save."""

    try:
        store.save(news)
    except StoreUnavailable as exc:
        raise Unavailable(str(exc)) from None
    except StoreError as exc:
        raise Unavailable(f"the store failed: {exc}") from None


def callback_dict(cb: Callback) -> dict[str, Any]:
    """A callback as the API shows it."""
    return {
        "call": cb.call,
        "number": cb.number,
        "department": cb.department,
        "charter": cb.charter,
        "opened_at": iso(cb.opened_at),
        "due_at": iso_or_none(cb.due_at),
        "called_back_at": iso_or_none(cb.called_back_at),
        "by": cb.by,
        "status": cb.status,
        "attempts": cb.attempts,
        "requested": cb.requested,
        "delay_seconds": cb.delay_seconds,
    }


# -- helpers --------------------------------------------------------------------------------


def call_conditions(query: Select[Any], where: CallFilter) -> Select[Any]:
    """``query`` (on the calls table, maybe joined) narrowed to the calls ``where`` lets through."""
    c, v, legs = tables.calls.c, tables.verdicts.c, tables.legs.c
    query = query.where(c.site == where.site)
    if where.tag == "staff":
        query = query.where(c.tag.is_(None))
    elif where.tag != "all":
        query = query.where(c.tag == where.tag)
    if where.departments is not None:
        query = query.where(c.department.in_(list(where.departments)))
    if where.since is not None:
        query = query.where(c.started_us >= where.since)
    if where.until is not None:
        query = query.where(c.started_us < where.until)
    if where.extension is not None:
        ext = where.extension
        took_part = exists().where(
            legs.call_id == c.id, or_(legs.from_user == ext, legs.to_user == ext)
        )
        query = query.where(or_(c.answered_by == ext, took_part))
    if where.caller is not None:
        if where.exact:
            query = query.where(c.caller == where.caller)
        else:
            query = query.where(c.caller.contains(where.caller, autoescape=True))
    if where.call is not None:
        if where.exact:
            leg = exists().where(legs.call_id == c.id, legs.sip_call_id == where.call)
            query = query.where(or_(c.id == where.call, leg))
        else:
            leg = exists().where(
                legs.call_id == c.id, legs.sip_call_id.contains(where.call, autoescape=True)
            )
            query = query.where(or_(c.id.contains(where.call, autoescape=True), leg))
    if where.rule is not None and where.breached is None:
        query = query.where(exists().where(v.call_id == c.id, v.rule == where.rule))
    if where.breached is not None:
        failed = [v.call_id == c.id, v.ok.is_(False)]
        if where.rule is not None:
            failed.append(v.rule == where.rule)
        if where.breached:
            query = query.where(exists().where(*failed))
        else:
            query = query.where(not_(exists().where(*failed)))
            if where.rule is not None:
                query = query.where(exists().where(v.call_id == c.id, v.rule == where.rule))
    return query


def _documents(conn: Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """The stored documents of ``calls`` rows, with their current verdicts (the call's, then
    the callback's) and callback; a key a document lacks (one written by other tools) comes
    from the row's columns, or is empty."""
    verdicts, callbacks = judgements(conn, [r["id"] for r in rows])
    docs = []
    for row in rows:
        call_id = row["id"]
        doc = _skeleton(row) | dict(row["document"] or {})
        doc["verdicts"] = [records.verdict_builtins(v) for v in verdicts.get(call_id, ())]
        if call_id in callbacks:
            doc["callback"] = records.callback_builtins(callbacks[call_id])
        doc["breached"] = any(not v["ok"] for v in doc["verdicts"])
        doc["tag"] = row["tag"]
        docs.append(doc)
    return docs


def _skeleton(row: Any) -> dict[str, Any]:
    """A call document made of the row's columns (what a stored document always overrides)."""
    return {
        "call": row["id"],
        "direction": row["direction"],
        "caller": row["caller"],
        "dialled": row["dialled"],
        "department": row["department"],
        "charter": row["charter"],
        "started_at": iso(row["started_us"]),
        "first_ring_at": iso_or_none(row["first_ring_us"]),
        "answered_at": iso_or_none(row["answered_us"]),
        "answered_by": row["answered_by"],
        "ring_seconds": row["ring_seconds"],
        "rings": None,
        "ended_at": iso_or_none(row["ended_us"]),
        "hangup_by": row["hangup_by"],
        "missed": bool(row["missed"]),
        "transfers": [],
        "callback": None,
        "verdicts": [],
        "end_reason": row["end_reason"],
        "complete": bool(row["complete"]),
        "correlation": row["correlation"],
        "legs": [],
    }


def _event(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored leg event in the ``callwatch ingest --events`` JSON."""
    return records.event_builtins(codec.event_from_dict(stored))


def _reason(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
