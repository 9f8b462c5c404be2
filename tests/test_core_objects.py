"""The core's output objects as the service moves them between processes.

The service pickles the pipeline's outputs to its store process, and the core may be compiled
with mypyc (``CALLWATCH_COMPILE=1``), where frozen classes have no state pickle could set:
every output of every fixture must come back equal, and every event must name its kind.
"""

from __future__ import annotations

import copyreg
import dataclasses
import json
import pickle
from pathlib import Path

import pytest

from callwatch.capture import CaptureStats, read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline
from callwatch.sip.events import EVENT_KINDS, LegEvent

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "sip_fixtures"
SPECS = sorted(FIXTURES.glob("*.expected-calls.json"))


def outputs(spec_file: Path) -> list[object]:
    spec = json.loads(spec_file.read_text())
    pipe = CallPipeline(load_site(ROOT / spec["site"]))
    out: list[object] = []
    for packet in read_capture(FIXTURES / f"{spec['fixture']}.pcap", CaptureStats()):
        out += pipe.push(packet)
    return out + pipe.flush()


@pytest.mark.parametrize("spec_file", SPECS, ids=lambda p: p.name.split(".")[0])
def test_every_output_survives_pickling(spec_file: Path) -> None:
    out = outputs(spec_file)
    assert out
    back = pickle.loads(pickle.dumps(out, protocol=pickle.HIGHEST_PROTOCOL))
    assert back == out
    assert [type(o) for o in back] == [type(o) for o in out]


def test_every_event_kind_is_named_once_and_by_its_class() -> None:
    seen: dict[str, type[LegEvent]] = {}
    for spec_file in SPECS:
        for item in outputs(spec_file):
            if isinstance(item, LegEvent):
                assert EVENT_KINDS[item.kind] is type(item)
                seen[item.kind] = type(item)
    assert {"offered", "alerting", "answered", "held", "referred", "ended"} <= set(seen)
    assert len(set(EVENT_KINDS.values())) == len(EVENT_KINDS)


def test_events_stay_immutable_and_hashable() -> None:
    event = next(o for o in outputs(SPECS[0]) if isinstance(o, LegEvent) and o.kind == "offered")
    with pytest.raises(AttributeError):
        event.at = 0  # type: ignore[misc]
    assert hash(event) == hash(pickle.loads(pickle.dumps(event)))


def test_a_packet_rebuilds_from_its_args_which_the_collector_stops_tracking() -> None:
    import gc

    from callwatch.capture.packet import Packet

    packets = list(read_capture(FIXTURES / "blind_transfer.pcap", CaptureStats()))
    queued = [p.args() for p in packets]
    assert [Packet(*args) for args in queued] == packets
    gc.collect()  # first the (host, port) pairs inside, then the tuples holding them
    gc.collect()
    assert not any(gc.is_tracked(args) for args in queued)
    assert all(gc.is_tracked(p) for p in packets)


def test_outputs_pickle_by_their_fields_which_must_all_be_parameters() -> None:
    """The reducers read the field list, so no field can be left out; the round trip of every
    fixture's outputs above checks the values."""
    from callwatch.calls.model import Call, Leg, Transfer
    from callwatch.charter.callbacks import Callback
    from callwatch.charter.verdict import Verdict
    from callwatch.fieldpickle import pickle_by_fields
    from callwatch.pipeline import CallbackNews, JudgedCall

    registered = [*EVENT_KINDS.values(), Leg, Transfer, Call, Verdict, Callback]
    for cls in [*registered, JudgedCall, CallbackNews]:
        assert cls in copyreg.dispatch_table, cls

    @dataclasses.dataclass
    class Derived:
        a: int
        b: int = dataclasses.field(init=False, default=0)

    with pytest.raises(TypeError, match="every field"):
        pickle_by_fields(Derived)
