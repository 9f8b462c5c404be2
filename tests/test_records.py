"""The record schema as a public contract: the committed JSON Schemas in docs/schema/ are the
generated ones, real payloads (the sip_fixtures captures through the pipeline and the bus's
payload builder) validate against them, and every reader gets back what was written."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import jsonschema_rs
import msgspec
import pytest

import test_store_fixtures as fx
from callwatch.api import schemas as api_schemas
from callwatch.api.live import ALL_KINDS, Broadcaster
from callwatch.bus.payloads import PayloadBuilder
from callwatch.calls.model import Call, Leg, Transfer
from callwatch.charter.callbacks import Callback
from callwatch.charter.verdict import Verdict
from callwatch.pipeline import CallbackNews, JudgedCall, Output
from callwatch.records import (
    VERSION,
    RecordError,
    call_builtins,
    decode,
    decode_payload,
    encode,
    event_builtins,
    schema,
)
from callwatch.records.jsonschema import KINDS, schemas, text
from callwatch.sip import events as ev
from callwatch.sip.events import LegEvent

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "docs" / "schema"


@pytest.fixture(scope="module")
def outputs() -> list[Output]:
    out: list[Output] = []
    for path in fx.pcaps():
        out.extend(fx.outputs(path))
    return out


@pytest.fixture(scope="module")
def validators() -> dict[str, jsonschema_rs.Validator]:
    return {
        kind: jsonschema_rs.validator_for(json.loads((SCHEMA_DIR / f"{kind}.json").read_text()))
        for kind in KINDS
    }


@pytest.mark.parametrize("kind", KINDS)
def test_the_committed_schema_is_the_generated_one(kind: str) -> None:
    committed = (SCHEMA_DIR / f"{kind}.json").read_text(encoding="utf-8")
    assert committed == text(schemas()[kind]), (
        f"docs/schema/{kind}.json is stale: python -m callwatch.records.jsonschema docs/schema"
    )


@pytest.mark.parametrize("reveal", [False, True])
def test_every_bus_payload_of_the_fixtures_validates(
    outputs: list[Output], validators: dict[str, jsonschema_rs.Validator], reveal: bool
) -> None:
    builder = PayloadBuilder(fx.site(), calls=True, reveal_numbers=reveal)
    seen: dict[str, int] = dict.fromkeys(KINDS, 0)
    for message in builder.build(outputs):
        payload = json.loads(message.payload)
        errors = [e.message for e in validators[message.kind].iter_errors(payload)]
        assert not errors, (message.kind, message.id, errors)
        assert payload["v"] == VERSION
        seen[message.kind] += 1
    assert all(seen.values()), seen  # the fixtures hold every kind


def test_the_schemas_refuse_what_the_contract_does_not_promise(
    outputs: list[Output], validators: dict[str, jsonschema_rs.Validator]
) -> None:
    builder = PayloadBuilder(fx.site(), calls=True)
    first = {}
    for message in builder.build(outputs):
        first.setdefault(message.kind, json.loads(message.payload))
    bad_event = first["event"] | {"at": 1_700_000_000}
    assert not validators["event"].is_valid(bad_event)
    assert not validators["event"].is_valid(first["event"] | {"event": "teleported"})
    call = dict(first["call"])
    del call["sip_legs"]  # the public form is not what the calls topic carries
    assert not validators["call"].is_valid(call)
    breach = dict(first["breach"])
    del breach["rule"]
    assert not validators["breach"].is_valid(breach)


def test_workers_read_back_the_calls_and_callbacks_they_are_sent(outputs: list[Output]) -> None:
    builder = PayloadBuilder(fx.site(), events=False, breaches=False, calls=True)
    wanted = [o for o in outputs if isinstance(o, JudgedCall | CallbackNews)]
    messages = list(builder.build(wanted))
    assert len(messages) == len(wanted)
    for message, item in zip(messages, wanted, strict=True):
        assert decode_payload(message.payload.encode(), fx.site().profiles) == item


def test_a_payload_of_another_version_or_kind_is_refused(outputs: list[Output]) -> None:
    builder = PayloadBuilder(fx.site(), calls=True)
    message = next(m for m in builder.build(outputs) if m.kind == "call")
    newer = json.loads(message.payload) | {"v": VERSION + 1}
    with pytest.raises(RecordError, match="version"):
        decode_payload(json.dumps(newer).encode(), fx.site().profiles)
    event = next(m for m in builder.build(outputs) if m.kind == "event")
    with pytest.raises(RecordError):
        decode_payload(event.payload.encode(), fx.site().profiles)
    with pytest.raises(RecordError):
        decode_payload(b"{not json", fx.site().profiles)


def test_spool_records_round_trip_through_json_bytes(outputs: list[Output]) -> None:
    for item in outputs:
        record = msgspec.json.decode(msgspec.json.encode(encode(item)))
        assert record["v"] == VERSION
        assert decode(record, fx.site().profiles) == item


def test_the_live_feed_is_handed_the_bus_records(outputs: list[Output]) -> None:
    broadcaster = Broadcaster(fx.site(), queue_size=100_000)
    sub = broadcaster.subscribe(kinds=ALL_KINDS, tags=(None, "probe"))
    broadcaster.publish_outputs(outputs)
    items = []
    while not sub.queue.empty():
        items.append(sub.queue.get_nowait())
    bus = {
        m.id: json.loads(m.payload)
        for m in PayloadBuilder(fx.site(), reveal_numbers=True).build(outputs)
    }
    events = [i for i in items if i.kind == "event"]
    breaches = [i for i in items if i.kind == "breach"]
    assert events and breaches
    for item in events:  # the same content (a record's tuples are the JSON's lists)
        assert json.loads(json.dumps(item.payload)) == bus[item.id]
    for item in breaches:  # the feed adds the extension and the time in µs
        extra = ("extension", "at_us")
        assert {k: v for k, v in item.payload.items() if k not in extra} == bus[item.id]


def test_ingest_prints_the_public_records(outputs: list[Output]) -> None:
    path = fx.FIXTURES / "answered_1st_ring.pcap"
    printed = [json.loads(line) for line in fx.ingest_lines(path)]
    judged = [o for o in fx.outputs(path) if isinstance(o, JudgedCall)]
    assert printed == [call_builtins(j.call, j.profile, j.verdicts, j.callback) for j in judged]
    assert all("sip_legs" not in call for call in printed)
    event = next(o for o in outputs if isinstance(o, LegEvent))
    assert set(event_builtins(event)) >= {"at", "event", "call_id", "from", "to", "leg"}


@pytest.mark.parametrize(
    ("model", "record", "added"),
    [
        (api_schemas.Call, schema.CallRecord, {"breached", "tag"}),
        (api_schemas.Verdict, schema.VerdictRecord, set()),
        (api_schemas.Transfer, schema.TransferRecord, set()),
        (api_schemas.CallbackState, schema.CallbackRecord, set()),
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_the_api_answers_the_public_record(model: type, record: type, added: set[str]) -> None:
    """The API's response models name the public record's fields (plus what the API adds), so
    a field added to the record and not to the API, or the other way round, shows here."""
    api = {f.alias or name for name, f in model.model_fields.items()}
    public = {f.encode_name for f in msgspec.structs.fields(record)} - schema.FULL_ONLY[record]
    assert api == public | added


_RENAMED = {"from_user": "from", "to_user": "to", "from_ext": "from", "to_ext": "to", "id": "call"}


@pytest.mark.parametrize(
    ("domain", "record", "elsewhere"),
    [
        *[(ev.EVENT_KINDS[kind], cls, set()) for kind, cls in schema.EVENT_RECORDS.items()],
        (Leg, schema.LegRecord, set()),
        (Transfer, schema.TransferRecord, set()),
        (Callback, schema.CallbackRecord, set()),
        (Verdict, schema.VerdictRecord, set()),
        (Call, schema.CallRecord, set()),  # its legs with their events: sip_legs
    ],
    ids=lambda x: getattr(x, "__name__", ""),
)
def test_every_field_of_the_pipeline_objects_has_a_place_in_its_record(
    domain: type, record: type, elsewhere: set[str]
) -> None:
    wire = {f.encode_name for f in msgspec.structs.fields(record)}
    missing = {
        f.name
        for f in dataclasses.fields(domain)
        if _RENAMED.get(f.name, f.name) not in wire and f.name not in elsewhere
    }
    assert not missing, f"{domain.__name__} fields with no place in {record.__name__}"
