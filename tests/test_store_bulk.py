"""The store's driver-level rows (callwatch.store.bulk) read back exactly as SQLAlchemy's own.

The reference rows below are what ``Store.save`` handed SQLAlchemy before the write path
went to the driver: each test writes the same outputs both ways, on SQLite and PostgreSQL,
and compares the tables as SQLAlchemy reads them and as the database holds them (JSON text,
timestamp text), with non-ASCII text, NULLs, IPv6 addresses, microseconds and times before
1970 among them.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Connection

import test_store_fixtures as fx
from callwatch import records
from callwatch.capture import Packet
from callwatch.pipeline import CallbackNews, JudgedCall
from callwatch.sip.events import LegEvent
from callwatch.sip.message import parse_message
from callwatch.store import RawMessage, Store, codec, tables
from callwatch.store.bulk import EVENT_COLUMNS, Bulk, event_fields, sqlite_time
from callwatch.store.store import _rank

_pg_cleanup = fx._pg_cleanup
pg_database = fx.pg_database
database_url = fx.database_url
store = fx.store

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_TABLES = (
    tables.calls,
    tables.legs,
    tables.events,
    tables.verdicts,
    tables.callbacks,
    tables.sip_messages,
)


def _dt(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + timedelta(microseconds=us)


def _times(prefix: str, us: int | None) -> dict[str, Any]:
    return {f"{prefix}_at": _dt(us), f"{prefix}_us": us}


def _event_row(event: LegEvent, call_id: str | None) -> dict[str, Any]:
    data = codec.event_to_dict(event)
    return {
        "leg": event.leg,
        "at_us": event.at,
        "kind": event.kind,
        "at": _dt(event.at),
        "sip_call_id": event.call_id,
        "call_id": call_id,
        "fields": {k: v for k, v in data.items() if k not in EVENT_COLUMNS},
    }


def _call_row(judged: JudgedCall, site: str) -> dict[str, Any]:
    call = judged.call
    document = records.call_builtins(call, judged.profile, judged.verdicts, judged.callback)
    return {
        "id": call.id,
        "site": site,
        "direction": call.direction,
        "caller": call.caller,
        "dialled": call.dialled,
        "department": call.department,
        "charter": judged.profile.id,
        **_times("started", call.started_at),
        **_times("first_ring", call.first_ring_at),
        **_times("answered", call.answered_at),
        **_times("ended", call.ended_at),
        "ring_seconds": call.ring_seconds,
        "answered_by": call.answered_by,
        "hangup_by": call.hangup_by,
        "missed": call.missed,
        "end_reason": call.end_reason,
        "complete": call.complete,
        "correlation": call.correlation,
        "document": document,
    }


def _leg_row(judged: JudgedCall, position: int) -> dict[str, Any]:
    leg = judged.call.legs[position]
    return {
        "call_id": judged.call.id,
        "leg": leg.leg,
        "position": position,
        "sip_call_id": leg.call_id,
        "role": leg.role,
        "from_user": leg.from_user,
        "to_user": leg.to_user,
        "dialled": leg.dialled,
        **_times("offered", leg.offered_at),
        **_times("alerting", leg.alerting_at),
        **_times("answered", leg.answered_at),
        "answered_by": leg.answered_by,
        **_times("ended", leg.ended_at),
        "ended_by": leg.ended_by,
        "end_reason": leg.end_reason,
        **_times("held", leg.held_at),
    }


def _verdict_row(call_id: str, source: str, position: int, v: Any) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "source": source,
        "position": position,
        "rule": v.rule,
        "charter": v.charter,
        "ok": v.ok,
        "measured": v.measured,
        "limit": v.limit,
        "unit": v.unit,
        "rings": v.rings,
        "limit_rings": v.limit_rings,
        "detail": v.detail,
        "evidence": list(v.evidence),
    }


def _callback_row(cb: Any) -> dict[str, Any]:
    return {
        "call_id": cb.call,
        "number": cb.number,
        "department": cb.department,
        "charter": cb.charter,
        **_times("opened", cb.opened_at),
        **_times("due", cb.due_at),
        **_times("called_back", cb.called_back_at),
        "by": cb.by,
        "status": cb.status,
        "attempts": cb.attempts,
        "requested": cb.requested,
        "delay_seconds": cb.delay_seconds,
        "rank": _rank(cb),
    }


def _message_row(msg: RawMessage) -> dict[str, Any]:
    host = lambda a: f"[{a[0]}]:{a[1]}" if ":" in a[0] else f"{a[0]}:{a[1]}"  # noqa: E731
    return {
        "at_us": msg.at,
        "digest": msg.digest,
        "at": _dt(msg.at),
        "src": host(msg.src),
        "dst": host(msg.dst),
        "transport": msg.transport,
        "first_line": msg.first_line,
        "text": msg.text,
        "leg": msg.leg,
        "sip_call_id": msg.call_id,
    }


def _odd_items() -> list[Any]:
    """Outputs with what a row could get wrong: times before 1970 and at µs 0 and 999999,
    non-ASCII text in every kind of column, NULLs, IPv6 addresses."""
    outs = fx.outputs(fx.FIXTURES / "ipv6_call.pcap")
    event = next(o for o in outs if isinstance(o, LegEvent) and o.kind == "offered")
    judged = next(o for o in outs if isinstance(o, JudgedCall))
    odd: list[Any] = [
        replace(event, at=-86_400_000_001, from_user="김민수 😀", to_user=None),
        replace(event, at=1_795_000_000_000_000, headers=(("x-name", 'Zoë "ü" \\ 한'),)),
        replace(event, at=1_795_000_000_999_999, src=("2001:db8::1", 5060), dst=None),
    ]
    call = replace(
        judged.call,
        id="민원-😀@callwatch.test",
        caller="홍길동",
        department=None,
        started_at=-1,
        answered_at=None,
        legs=[replace(leg, from_user="Zoë", held_at=-999_999) for leg in judged.call.legs],
    )
    verdicts = [replace(v, detail="답변 없음 😀", measured=None) for v in judged.verdicts]
    odd.append(replace(judged, call=call, verdicts=verdicts))
    text = "MESSAGE sip:홍@[2001:db8::2] SIP/2.0\r\nCall-ID: ü@x\r\nFrom: <sip:a@x>;tag=1\r\n"
    text += "To: <sip:b@x>\r\nCSeq: 1 MESSAGE\r\n\r\n안녕 😀"
    packet = Packet(-1_000_001, ("2001:db8::1", 5060), ("::1", 5061), "tls", text.encode())
    odd.append(RawMessage.from_packet(packet, parse_message(packet.payload)))
    return odd


def _specs(site: str) -> dict[Any, tuple[Any, ...]]:
    """Each table's rows to write (one per key), as what makes them."""
    items: list[Any] = []
    for path in fx.pcaps():
        items += fx.outputs(path)
        items += [RawMessage.from_packet(p, parse_message(p.payload)) for p in fx.packets(path)]
    items += _odd_items()
    rows: dict[Any, tuple[Any, ...]] = {}
    for item in items:
        if isinstance(item, LegEvent):
            rows.setdefault(("events", item.leg, item.at, item.kind), ("event", item, None))
        elif isinstance(item, RawMessage):
            rows[("sip_messages", item.at, item.digest)] = ("message", item)
        elif isinstance(item, JudgedCall):
            call = item.call
            rows[("calls", call.id)] = ("call", item, site)
            for i, leg in enumerate(call.legs):
                rows[("legs", call.id, leg.leg)] = ("leg", item, i)
                for e in leg.events:
                    rows[("events", e.leg, e.at, e.kind)] = ("event", e, call.id)
            for i, v in enumerate(item.verdicts):
                rows[("verdicts", call.id, "call", i)] = ("verdict", call.id, "call", i, v)
        elif isinstance(item, CallbackNews):
            rows[("callbacks", item.callback.call)] = ("callback", item.callback)
            for i, v in enumerate(item.verdicts):
                key = ("verdicts", item.callback.call, "callback", i)
                rows[key] = ("verdict", item.callback.call, "callback", i, v)
    return rows


_REFERENCE = {
    "event": _event_row,
    "message": _message_row,
    "call": _call_row,
    "leg": _leg_row,
    "verdict": _verdict_row,
    "callback": _callback_row,
}


def _write_reference(conn: Connection, specs: dict[Any, tuple[Any, ...]]) -> None:
    for table in _TABLES:
        rows = [_REFERENCE[s[0]](*s[1:]) for key, s in specs.items() if key[0] == table.name]
        conn.execute(table.insert(), rows)


def _write_bulk(conn: Connection, bulk: Bulk, specs: dict[Any, tuple[Any, ...]]) -> None:
    statements = {
        "calls": bulk.upsert_calls,
        "legs": bulk.insert_legs,
        "events": bulk.upsert_events,
        "verdicts": bulk.insert_verdicts,
        "callbacks": bulk.upsert_callbacks,
        "sip_messages": bulk.insert_messages,
    }
    makers = {
        "event": bulk.event,
        "message": bulk.message,
        "call": bulk.call,
        "leg": lambda judged, i: bulk.leg(judged.call, i),
        "verdict": bulk.verdict,
        "callback": lambda cb: bulk.callback(cb, _rank(cb)),
    }
    for table in _TABLES:
        rows = [makers[s[0]](*s[1:]) for key, s in specs.items() if key[0] == table.name]
        bulk.run(conn, statements[table.name], rows)


def _dump(conn: Connection) -> dict[str, list[str]]:
    """Every row as SQLAlchemy reads it, and as the database holds it (raw text)."""
    out = {}
    for table in _TABLES:
        out[table.name] = sorted(repr(tuple(r)) for r in conn.execute(select(table)))
        if conn.dialect.name == "postgresql":
            raw = conn.exec_driver_sql(f'SELECT t::text FROM "{table.name}" t').scalars()
        else:
            raw = (repr(r) for r in conn.exec_driver_sql(f'SELECT * FROM "{table.name}"'))
        out[f"raw {table.name}"] = sorted(raw)
    return out


def test_bulk_rows_read_back_as_sqlalchemys(store: Store) -> None:
    specs = _specs(store.site)
    kinds = {key[0] for key in specs}
    assert kinds == {t.name for t in _TABLES}
    with store.engine.begin() as conn:
        _write_reference(conn, specs)
        expected = _dump(conn)
        for table in reversed(_TABLES):
            conn.execute(delete(table))
        assert all(not rows for rows in _dump(conn).values())
        _write_bulk(conn, store.bulk, specs)
        assert _dump(conn) == expected
    assert any("2001:db8::1" in row for row in expected["raw sip_messages"])
    assert any("1969-12-30 23:59:59.999999" in row for row in expected["raw events"])
    assert any("😀" in row or "\\ud83d" in row for row in expected["raw calls"])


@pytest.mark.parametrize(
    "us",
    [
        0,
        1,
        999_999,
        -1,
        -1_000_000,
        -86_400_000_001,
        1_795_000_000_123_456,
        253_402_300_799_999_999,
    ],
)
def test_sqlite_time_is_sqlalchemys_datetime_text(us: int) -> None:
    process = sqlite.DATETIME().bind_processor(sqlite.dialect())
    assert sqlite_time(us) == process(_dt(us))
    assert sqlite_time(None) is None


def test_event_fields_are_the_codec_fields_in_order() -> None:
    events = [o for p in fx.pcaps() for o in fx.outputs(p) if isinstance(o, LegEvent)]
    assert len({type(e) for e in events}) >= 6
    for event in events:
        data = codec.event_to_dict(event)
        expected = {k: v for k, v in data.items() if k not in EVENT_COLUMNS}
        fields = event_fields(event)
        assert list(fields) == list(expected)
        assert json.dumps(fields) == json.dumps(expected)
