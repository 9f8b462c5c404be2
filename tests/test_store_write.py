"""The store's write path on SQLite and PostgreSQL: replays that overlap what is stored, a call
saved again, a batch the database refuses, and the encode/write split of ``Store.save``.

On PostgreSQL rows go by ``COPY``, straight into a table while nothing of theirs is stored
yet and through a temporary copy table otherwise; these tests drive both ways.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import func, select

import test_store_fixtures as fx
from callwatch.pipeline import CallbackNews, JudgedCall
from callwatch.sip.events import LegEvent
from callwatch.sip.message import parse_message
from callwatch.store import RawMessage, Store, StoreError, tables

_pg_cleanup = fx._pg_cleanup
pg_database = fx.pg_database
database_url = fx.database_url
store = fx.store


def _everything() -> list[Any]:
    """Every capture's outputs, each capture's raw messages beside them."""
    items: list[Any] = []
    for path in fx.pcaps():
        items += fx.outputs(path)
        items += [RawMessage.from_packet(p, parse_message(p.payload)) for p in fx.packets(path)]
    return items


def _save(store: Store, items: list[Any], size: int) -> None:
    for i in range(0, len(items), size):
        store.save(items[i : i + size])


def _unclaimed(store: Store) -> int:
    e = tables.events.c
    with store.engine.connect() as conn:
        query = select(func.count()).select_from(tables.events).where(e.call_id.is_(None))
        return int(conn.execute(query).scalar_one())


def _expected_counts(items: list[Any]) -> dict[str, int]:
    judged = {i.call.id: i for i in items if isinstance(i, JudgedCall)}
    events = {(i.leg, i.at, i.kind) for i in items if isinstance(i, LegEvent)}
    events |= {
        (e.leg, e.at, e.kind) for j in judged.values() for leg in j.call.legs for e in leg.events
    }
    messages = {(i.at, i.digest) for i in items if isinstance(i, RawMessage)}
    legs = sum(len(j.call.legs) for j in judged.values())
    return {
        "calls": len(judged),
        "legs": legs,
        "events": len(events),
        "sip_messages": len(messages),
    }


def test_a_replay_overlapping_stored_rows_stores_each_row_once(store: Store) -> None:
    items = _everything()
    _save(store, items[: len(items) // 2], 7)  # half of it, in small batches
    _save(store, items, 50)  # then all of it: each batch part stored, part new
    counts = store.counts()
    assert {k: counts[k] for k in ("calls", "legs", "events", "sip_messages")} == (
        _expected_counts(items)
    )
    assert [json.dumps(r) for r in store.export_calls()] == [
        json.dumps(r) for r in fx.expected_rows(fx.pcaps())
    ]
    assert _unclaimed(store) == 0
    assert store.pending_events() == []


def test_saving_in_one_batch_or_many_stores_the_same(store: Store) -> None:
    items = _everything()
    store.save(items)  # each event alone and inside its call in one batch: one row
    counts = store.counts()
    assert {k: counts[k] for k in ("calls", "legs", "events", "sip_messages")} == (
        _expected_counts(items)
    )
    assert _unclaimed(store) == 0
    exported = [json.dumps(r) for r in store.export_calls()]
    _save(store, items, 3)
    assert store.counts() == counts
    assert [json.dumps(r) for r in store.export_calls()] == exported


def test_a_call_saved_again_replaces_its_legs_and_verdicts_and_releases_events(
    store: Store,
) -> None:
    path = fx.FIXTURES / "blind_transfer.pcap"
    outs = fx.outputs(path)
    judged = next(o for o in outs if isinstance(o, JudgedCall) and len(o.call.legs) >= 2)
    call = judged.call
    store.save(outs)
    assert _unclaimed(store) == 0
    fewer = replace(judged, call=replace(call, legs=call.legs[:1]), verdicts=judged.verdicts[:1])
    store.save([fewer])
    row = store.call(call.id)
    assert row is not None
    assert [v["rule"] for v in row["verdicts"]] == [judged.verdicts[0].rule]
    legs = tables.legs.c
    with store.engine.connect() as conn:
        stored = conn.execute(select(legs.leg).where(legs.call_id == call.id)).scalars().all()
    assert stored == [call.legs[0].leg]
    dropped = {(e.leg, e.at, e.kind) for leg in call.legs[1:] for e in leg.events}
    assert dropped and {(e.leg, e.at, e.kind) for e in store.pending_events()} == dropped
    store.save([judged])  # and back: everything as ingest prints it
    assert [json.dumps(r, ensure_ascii=False) for r in store.export_calls()] == list(
        fx.ingest_lines(path)
    )
    assert store.pending_events() == []


def test_a_refused_batch_writes_nothing_and_the_next_batch_works(store: Store) -> None:
    path = fx.FIXTURES / "missed_then_callback_2h.pcap"
    outs = fx.outputs(path)
    store.save(outs)
    counts = store.counts()
    news = next(o for o in outs if isinstance(o, CallbackNews))
    unknown = replace(news.callback, call="refused@callwatch.test", opened_at=None)
    broken = CallbackNews(unknown, [])  # opened_us is NOT NULL
    store.close()  # a new connection: its copy tables are made in the refused transaction
    # the replayed rows conflict (PostgreSQL: they take the copy tables) before the refusal
    with pytest.raises(StoreError):
        store.save([*outs, broken])
    assert store.counts() == counts
    store.save(outs)  # the copy tables went with the refused transaction; made again
    assert store.counts() == counts
    assert [json.dumps(r, ensure_ascii=False) for r in store.export_calls()] == list(
        fx.ingest_lines(path)
    )


def test_encode_then_write_is_save(store: Store) -> None:
    outs = fx.outputs(fx.FIXTURES / "answered_3rd_ring.pcap")
    rows = store.encode(outs)
    assert rows.size == len(outs) and store.counts()["calls"] == 0  # nothing written yet
    store.write(rows)
    assert [json.dumps(r, ensure_ascii=False) for r in store.export_calls()] == list(
        fx.ingest_lines(fx.FIXTURES / "answered_3rd_ring.pcap")
    )
    with pytest.raises(StoreError, match="cannot store str"):
        store.encode(["not an output"])  # type: ignore[list-item]
