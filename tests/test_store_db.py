"""The store on SQLite and PostgreSQL, fed the real sipp fixtures through the pipeline."""

from __future__ import annotations

import io
import json
from dataclasses import replace

from sqlalchemy import select

import test_store_fixtures as fx
from callwatch.calls.directory import Department, Directory
from callwatch.pipeline import CallbackNews, CallPipeline, JudgedCall
from callwatch.sip.events import LegEvent
from callwatch.sip.message import parse_message
from callwatch.store import CSV_FIELDS, RawMessage, Store, export_csv, recover_interrupted, tables
from callwatch.timefmt import parse_iso

# Fixtures shared by the store tests (pytest finds them by name in this module).
_pg_cleanup = fx._pg_cleanup
pg_database = fx.pg_database
database_url = fx.database_url
store = fx.store


def _save_all(store: Store) -> None:
    for path in fx.pcaps():
        store.save(fx.outputs(path))


def test_export_is_exactly_ingest_json(store: Store) -> None:
    _save_all(store)
    exported = [json.dumps(row, ensure_ascii=False) for row in store.export_calls()]
    expected = [json.dumps(row, ensure_ascii=False) for row in fx.expected_rows(fx.pcaps())]
    assert len(expected) >= 20
    assert exported == expected
    callbacks = {cb.call: cb.status for cb in store.callbacks()}
    # open: busy, caller_cancels, ring_timeout, pbx_answered, 2 each of named_extensions,
    # proxied_reject and proxied_reject_hep
    assert sorted(callbacks.values()) == ["kept", "late", *["open"] * 10]


def test_saving_twice_stores_once(store: Store) -> None:
    _save_all(store)
    once = store.counts()
    first = list(store.export_calls())
    _save_all(store)
    assert store.counts() == once
    assert list(store.export_calls()) == first
    assert once["calls"] == len(first)


def test_two_agents_sending_the_same_packets_store_each_call_once(store: Store) -> None:
    for path in fx.pcaps():
        a, b = fx.outputs(path), fx.outputs(path)
        mixed = []  # interleave the two agents' streams in small slices
        for i in range(0, max(len(a), len(b)), 3):
            mixed.extend(a[i : i + 3])
            mixed.extend(b[i : i + 3])
        for i in range(0, len(mixed), 4):
            store.save(mixed[i : i + 4])
    counts = store.counts()
    assert counts["calls"] == len(fx.expected_rows(fx.pcaps()))
    events = [o for p in fx.pcaps() for o in fx.outputs(p) if isinstance(o, LegEvent)]
    assert counts["events"] == len(events)
    assert [json.dumps(r) for r in store.export_calls()] == [
        json.dumps(r) for r in fx.expected_rows(fx.pcaps())
    ]


def test_a_late_replay_never_undoes_callback_progress(store: Store) -> None:
    path = fx.FIXTURES / "missed_then_callback_2h.pcap"
    outs = fx.outputs(path)
    store.save(outs)
    news = [o for o in outs if isinstance(o, CallbackNews)]
    assert [n.callback.status for n in news] == ["open", "missed", "late"]
    store.save([news[0], news[1]])  # an agent lagging behind replays older states
    store.save([o for o in outs if isinstance(o, JudgedCall)])
    [cb] = store.callbacks()
    assert cb.status == "late"
    row = store.call(cb.call)
    assert row is not None and row["callback"]["status"] == "late"
    assert [v["rule"] for v in row["verdicts"]][-1] == "callback"
    assert [json.dumps(r, ensure_ascii=False) for r in store.export_calls()] == list(
        fx.ingest_lines(path)
    )


def test_an_incomplete_copy_never_replaces_a_complete_call(store: Store) -> None:
    path = fx.FIXTURES / "answered_3rd_ring.pcap"
    outs = fx.outputs(path)
    store.save(outs)
    judged = next(o for o in outs if isinstance(o, JudgedCall))
    cut = JudgedCall(replace(judged.call, complete=False), judged.profile, [])
    store.save([cut])
    assert [json.dumps(r, ensure_ascii=False) for r in store.export_calls()] == list(
        fx.ingest_lines(path)
    )


def test_mark_incomplete_removes_every_verdict(store: Store) -> None:
    _save_all(store)
    breached = [r["call"] for r in store.export_calls() if any(not v["ok"] for v in r["verdicts"])]
    assert breached
    assert store.mark_incomplete([*breached, "no-such-call"]) == len(breached)
    for call_id in breached:
        row = store.call(call_id)
        assert row is not None
        assert row["complete"] is False and row["verdicts"] == [] and row["callback"] is None
    assert all(c.ok for c in store.verdict_counts())


def test_restart_mid_call_records_incomplete_calls_without_verdicts(store: Store) -> None:
    path = fx.FIXTURES / "ring_timeout.pcap"
    pipe = CallPipeline(fx.site())
    before_restart = []
    for packet in fx.packets(path)[:4]:  # the service stops while the phone rings
        before_restart.extend(pipe.push(packet))
    assert before_restart and all(isinstance(o, LegEvent) for o in before_restart)
    store.save(before_restart)
    assert store.pending_events() == before_restart
    recovered = recover_interrupted(store, fx.site())
    assert [j.call.complete for j in recovered] == [False]
    assert store.pending_events() == []
    [row] = store.export_calls()
    assert row["complete"] is False and row["verdicts"] == []
    assert store.verdict_counts() == []


def test_raw_messages_are_stored_once_and_purged_by_age(store: Store) -> None:
    path = fx.FIXTURES / "attended_transfer.pcap"
    msgs = [RawMessage.from_packet(p, parse_message(p.payload)) for p in fx.packets(path)]
    assert store.save_messages(msgs) == len(msgs)
    store.save_messages(msgs[: len(msgs) // 2])  # a second agent
    call_ids = sorted({m.call_id for m in msgs})
    stored = store.messages(call_ids)
    assert stored == sorted(msgs, key=lambda m: (m.at, m.digest))
    assert stored[0].first_line.startswith("INVITE ")
    cutoff = msgs[len(msgs) // 2].at
    gone = store.purge_messages(cutoff)
    assert gone == sum(m.at < cutoff for m in msgs)
    assert store.messages(call_ids) == [m for m in stored if m.at >= cutoff]


def test_period_and_department_queries(store: Store) -> None:
    _save_all(store)
    rows = fx.expected_rows(fx.pcaps())
    middle = parse_iso(rows[len(rows) // 2]["started_at"])
    assert store.calls(since=middle) == [r for r in rows if parse_iso(r["started_at"]) >= middle]
    assert store.calls(until=middle) == [r for r in rows if parse_iso(r["started_at"]) < middle]
    assert store.calls("민원") == [r for r in rows if r["department"] == "민원"]
    counts = {(c.rule, c.department, c.ok): c.count for c in store.verdict_counts(since=middle)}
    expected: dict = {}
    for r in rows:
        if parse_iso(r["started_at"]) >= middle:
            for v in r["verdicts"]:
                key = (v["rule"], r["department"], v["ok"])
                expected[key] = expected.get(key, 0) + 1
    assert counts == expected and counts


def test_directory_is_synced(store: Store) -> None:
    store.sync_directory(fx.site())
    store.sync_directory(fx.site())
    counts = store.counts()
    assert counts["departments"] == 2 and counts["extensions"] == 2


def test_directory_with_named_phones_and_patterns_is_synced(store: Store) -> None:
    departments = [
        Department("민원", extensions=("2001-2009", "reception", "telephone*"), numbers=("2000",)),
        Department("세무", extensions=("3001",), numbers=("3000",)),
    ]
    store.sync_directory(replace(fx.site(), directory=Directory(departments)))
    x = tables.extensions.c
    with store.engine.connect() as conn:
        rows = sorted(conn.execute(select(x.first, x.last, x.department)).tuples())
    # a range is stored by its ends, a named phone or a pattern as written, at both ends
    assert rows == [
        ("2001", "2009", "민원"),
        ("3001", "3001", "세무"),
        ("reception", "reception", "민원"),
        ("telephone*", "telephone*", "민원"),
    ]


def test_a_phone_name_of_any_length_is_synced(store: Store) -> None:
    name = "front-desk." * 30 + "reception"  # 339 characters; the column once held 64
    departments = [Department("민원", extensions=(name, "2001-2009"), numbers=("2000",))]
    store.sync_directory(replace(fx.site(), directory=Directory(departments)))
    x = tables.extensions.c
    with store.engine.connect() as conn:
        rows = sorted(conn.execute(select(x.first, x.last)).all())
    assert [tuple(r) for r in rows] == [("2001", "2009"), (name, name)]


def test_csv_export_flattens_the_same_fields(store: Store) -> None:
    _save_all(store)
    out = io.StringIO()
    rows = list(store.export_calls())
    assert export_csv(rows, out) == len(rows)
    lines = out.getvalue().splitlines()
    assert lines[0].split(",") == list(CSV_FIELDS)
    assert len(lines) == len(rows) + 1
    late = next(r for r in rows if (r["callback"] or {}).get("status") == "late")
    line = next(line for line in lines if line.startswith(late["call"] + ","))
    assert ",late," in line and "breach" in line
