"""The JSON codec of outputs and the store writer's outage handling (its spool is the durable
queue, tested in test_diskqueue.py)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import test_store_fixtures as fx
from callwatch.calls.model import Call, Leg, Transfer
from callwatch.charter.callbacks import Callback
from callwatch.charter.verdict import Verdict
from callwatch.diskqueue import DurableQueue
from callwatch.pipeline import JudgedCall
from callwatch.records import call_payload, judged_from_record
from callwatch.records.schema import CallPayload
from callwatch.sip import events as ev
from callwatch.store import (
    CodecError,
    RawMessage,
    SpoolFull,
    Store,
    StoreWriter,
    decode_output,
    encode_output,
)

_pg_cleanup = fx._pg_cleanup
pg_database = fx.pg_database
database_url = fx.database_url

# -- codec -----------------------------------------------------------------------------------

text = st.text(max_size=12)
opt_text = st.none() | text
us = st.integers(min_value=0, max_value=253_402_300_799_999_999)  # records write ISO times: to 9999
opt_us = st.none() | us
addr = st.tuples(st.sampled_from(["10.0.0.1", "::1", "fe80::2"]), st.integers(0, 65535))
side = st.sampled_from(["caller", "callee"])
common = {"at": us, "leg": text, "call_id": text, "from_user": opt_text, "to_user": opt_text}

leg_events = st.one_of(
    st.builds(
        ev.Offered,
        **common,
        dialled=opt_text,
        src=st.none() | addr,
        dst=st.none() | addr,
        transport=st.sampled_from(["udp", "tcp", "wss"]),
        headers=st.lists(st.tuples(text, text), max_size=3).map(tuple),
        correlation_id=opt_text,
    ),
    st.builds(ev.Alerting, **common, status=st.integers(100, 199), by=opt_text),
    st.builds(ev.Answered, **common, by=opt_text, to_tag=opt_text),
    st.builds(ev.Held, **common, by=side),
    st.builds(ev.Resumed, **common, by=side),
    st.builds(
        ev.Referred,
        **common,
        by=side,
        refer_to=opt_text,
        referred_by=opt_text,
        replaces=opt_text,
        replaces_tags=st.tuples(opt_text, opt_text),
    ),
    st.builds(ev.TransferProgress, **common, status=st.integers(100, 699)),
    st.builds(
        ev.Ended,
        **common,
        by=st.none() | side,
        reason=text,
        answered=st.booleans(),
    ),
)
legs = st.builds(
    Leg,
    leg=text,
    call_id=text,
    from_user=opt_text,
    to_user=opt_text,
    dialled=opt_text,
    offered_at=us,
    role=st.sampled_from(["trunk", "phone", "transfer", "consultation", "direct"]),
    alerting_at=opt_us,
    answered_at=opt_us,
    answered_by=opt_text,
    ended_at=opt_us,
    ended_by=st.none() | side,
    end_reason=opt_text,
    held_at=opt_us,
    events=st.lists(leg_events, max_size=3),
)
transfers = st.builds(
    Transfer,
    kind=st.sampled_from(["blind", "attended", "local_attended"]),
    from_ext=opt_text,
    to_ext=opt_text,
    started_at=us,
    connected_at=opt_us,
    legs=st.lists(text, max_size=2).map(tuple),
    completed_at=opt_us,
)
calls = st.builds(
    Call,
    id=text,
    direction=st.sampled_from(["inbound", "outbound", "internal", "external"]),
    caller=opt_text,
    dialled=opt_text,
    started_at=us,
    department=opt_text,
    legs=st.lists(legs, max_size=3),
    first_ring_at=opt_us,
    answered_at=opt_us,
    answered_by=opt_text,
    ended_at=opt_us,
    hangup_by=st.none() | st.sampled_from(["caller", "agent", "system"]),
    end_reason=opt_text,
    missed=st.booleans(),
    transfers=st.lists(transfers, max_size=2),
    correlation=text,
    complete=st.booleans(),
)
finite = st.floats(allow_nan=False, allow_infinity=False)
verdicts = st.builds(
    Verdict,
    rule=st.sampled_from(["answer", "transfer", "hangup", "callback"]),
    charter=text,
    ok=st.booleans(),
    measured=st.none() | finite,
    limit=st.none() | finite,
    unit=text,
    detail=text,
    rings=st.none() | st.integers(0, 20),
    limit_rings=st.none() | st.integers(0, 20),
    evidence=st.lists(text, max_size=3).map(tuple),
)
callbacks = st.builds(
    Callback,
    call=text,
    number=text,
    department=opt_text,
    charter=text,
    opened_at=us,
    due_at=opt_us,
    called_back_at=opt_us,
    by=opt_text,
    status=st.sampled_from(["open", "kept", "late", "missed"]),
    attempts=st.integers(0, 10),
    requested=st.booleans(),
)
messages = st.builds(
    RawMessage, at=us, src=addr, dst=addr, transport=text, call_id=text, text=text, leg=opt_text
)


def _through_json(record: dict) -> dict:
    return json.loads(json.dumps(record))


@settings(max_examples=150, deadline=None)
@given(st.one_of(leg_events, messages))
def test_events_and_messages_round_trip(item: object) -> None:
    assert decode_output(_through_json(encode_output(item))) == item


@settings(max_examples=100, deadline=None)
@given(calls, st.lists(verdicts, max_size=3), st.none() | callbacks)
def test_judged_calls_round_trip(call: Call, vs: list[Verdict], cb: Callback | None) -> None:
    profile = fx.site().profile_for(None)
    judged = JudgedCall(call, profile, vs, cb)
    back = decode_output(_through_json(encode_output(judged)), fx.site().profiles)
    assert back == judged
    wire = msgspec.json.encode(call_payload(judged))
    assert (
        judged_from_record(msgspec.json.decode(wire, type=CallPayload), fx.site().profiles)
        == judged
    )


def test_every_fixture_output_round_trips() -> None:
    for path in fx.pcaps():
        for item in fx.outputs(path):
            assert decode_output(_through_json(encode_output(item)), fx.site().profiles) == item


@pytest.mark.parametrize(
    "record",
    [
        {"type": "nope"},
        {"type": "event", "event": {"kind": "teleported", "at": 1}},
        {"type": "event", "event": {"kind": "held", "at": 1}},
        {
            "type": "call",
            "call": {},
            "profile": "no-such-charter",
            "verdicts": [],
            "callback": None,
        },
        {"type": "sip", "message": {"at": 1, "bogus": 2}},
        {},
        {"type": "event", "v": 1, "event": "teleported", "at": "2026-01-01T00:00:00.000000Z"},
        {"type": "event", "v": 1, "event": "held", "at": 1},
        {"type": "event", "v": 2, "event": "held"},
        {"type": "sip", "v": 1, "at": "2026-01-01T00:00:00.000000Z", "src": "a"},
        {"type": "call", "v": 1, "call": "c"},
        {"type": "callback", "v": 1, "callback": {}, "verdicts": []},
    ],
)
def test_bad_records_raise_codec_error(record: dict) -> None:
    with pytest.raises(CodecError):
        decode_output(record)


# -- writer ----------------------------------------------------------------------------------

CLOSED = "postgresql+psycopg://postgres@127.0.0.1:1/test"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _all_outputs() -> list:
    return [o for p in fx.pcaps() for o in fx.outputs(p)]


def test_outage_then_recovery_stores_everything_once(tmp_path: Path, database_url: str) -> None:
    items = _all_outputs()
    half = len(items) // 2
    clock = FakeClock()
    down = StoreWriter(
        Store.open(CLOSED), DurableQueue(tmp_path / "spool", fsync=True), batch_size=9, clock=clock
    )
    down.add(items[:half])
    down.close()
    assert down.stats.written == 0 and down.stats.failures >= 1
    assert (
        down.stats.spooled == half
        and down.stats.spool_depth == DurableQueue(tmp_path / "spool").depth
    )
    shutil.copytree(tmp_path / "spool", tmp_path / "copy")  # as if acks were lost in a crash

    store = Store.open(database_url, site=fx.site().name)
    store.upgrade()
    up = StoreWriter(store, DurableQueue(tmp_path / "spool", fsync=True), batch_size=9, clock=clock)
    up.add(items[half:])  # the spool drains first, then the new batches
    up.close()
    assert up.stats.spool_depth == 0 and up.stats.written == len(items)
    replay = StoreWriter(store, DurableQueue(tmp_path / "copy"), clock=clock)
    assert replay.drain() and replay.stats.written == half
    expected = [json.dumps(r) for r in fx.expected_rows(fx.pcaps())]
    assert [json.dumps(r) for r in store.export_calls()] == expected
    once = Store.open(f"sqlite:///{tmp_path / 'once.sqlite'}")
    once.upgrade()
    once.save(items)
    assert store.counts()["events"] == once.counts()["events"]
    assert store.counts()["verdicts"] == once.counts()["verdicts"]
    store.close()


def test_backoff_spools_without_retrying_until_it_has_passed(tmp_path: Path) -> None:
    items = fx.outputs(fx.FIXTURES / "busy.pcap")
    clock = FakeClock()
    writer = StoreWriter(
        Store.open(CLOSED), DurableQueue(tmp_path), batch_size=1, backoff_initial=2.0, clock=clock
    )
    writer.add(items)
    assert writer.stats.failures == 1 and writer.stats.spooled == len(items)
    clock.now = 1.0
    writer.poll()
    assert writer.stats.failures == 1  # still backing off
    clock.now = 2.5
    writer.poll()
    assert writer.stats.failures == 2  # retried once, failed, backs off longer
    assert writer.spool.depth == len(items)


def test_full_spool_holds_batches_in_memory_then_refuses(tmp_path: Path) -> None:
    items = fx.outputs(fx.FIXTURES / "answered_1st_ring.pcap")
    clock = FakeClock()
    spool = DurableQueue(tmp_path / "spool", max_bytes=10)
    writer = StoreWriter(Store.open(CLOSED), spool, batch_size=2, max_pending=4, clock=clock)
    writer.add(items[:4])
    assert writer.pending == 4 and spool.depth == 0
    with pytest.raises(SpoolFull):
        writer.add(items[4:])
    assert writer.stats.refused == len(items) - 4
    store = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.upgrade()
    writer.store = store
    clock.now = 100.0
    writer.add(items[4:])
    writer.close()
    assert writer.pending == 0 and writer.stats.written == len(items)
    assert [r["call"] for r in store.export_calls()] == [
        json.loads(line)["call"] for line in fx.ingest_lines(fx.FIXTURES / "answered_1st_ring.pcap")
    ]


def test_a_batch_the_database_rejects_is_kept_aside(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    store.upgrade()
    writer = StoreWriter(store, DurableQueue(tmp_path / "spool"), batch_size=1, clock=FakeClock())
    try:
        bad = ev.Alerting(at=1, leg="l1", call_id=None, from_user=None, to_user=None)  # type: ignore[arg-type]
    except TypeError:
        pytest.skip("a compiled core checks field types, so this event cannot be built")
    good = fx.outputs(fx.FIXTURES / "busy.pcap")
    writer.add([bad, *good])
    writer.close()
    assert writer.stats.rejected == 1 and writer.stats.spool_depth == 0
    assert writer.stats.written == len(good)
    [line] = (tmp_path / "spool" / "rejected.jsonl").read_text().splitlines()
    kept = json.loads(line)
    assert "NOT NULL" in kept["error"] and decode_output(kept["items"][0]) == bad
    assert len(list(store.export_calls())) == 1


def test_an_ended_event_stored_with_the_old_extra_field_still_reads():
    from callwatch.store.codec import event_from_dict

    old = {
        "kind": "ended",
        "at": 1,
        "leg": "l",
        "call_id": "c",
        "from_user": None,
        "to_user": None,
        "by": "caller",
        "reason": "bye",
        "answered": True,
        "extra": {},
    }
    assert event_from_dict(old) == ev.Ended(
        at=1,
        leg="l",
        call_id="c",
        from_user=None,
        to_user=None,
        by="caller",
        reason="bye",
        answered=True,
    )
