"""Record encode/decode: microseconds per call for msgspec, pydantic and attrs/cattrs.

usage: python bench/records.py [--pcap FILE] [--repeat N] [--before REV]

The capture (default bench/out/sipp_20000.pcap, made by ``python bench/ingest.py --calls
20000``) goes through the pipeline once; every output (leg events, judged calls with their legs
and events, callback news) becomes its full record (:mod:`callwatch.records.schema`). Then,
for each library, the same records are written as JSON bytes and read back into that library's
typed objects, and the script prints microseconds per judged call for each direction (all
outputs divided by the judged calls: a call's events are part of its cost), best of N runs.

- msgspec: the schema's own ``Struct`` types, ``msgspec.json.encode`` / ``msgspec.json.decode``
  with the record type (validation included);
- pydantic: ``BaseModel`` classes made from the same fields (aliases for ``from``, the event
  kinds a discriminated union on ``event``), ``model_dump_json`` / ``TypeAdapter.validate_json``;
- cattrs: ``attrs`` classes made from the same fields, a converter with the same renames and a
  tagged union on ``event``, ``json.dumps(unstructure)`` / ``structure(json.loads)``.

Besides, for msgspec (the library chosen, docs/records.md), it times the whole path the
service takes: pipeline output → record → JSON bytes, and JSON bytes → record → pipeline
output (:mod:`callwatch.records.convert`), and the store spool's seam as the spool uses it
(``store.codec.encode_output`` then ``json.dumps``; ``json.loads`` then ``decode_output``);
with ``--before REV`` also that seam as the git revision REV had it (its
``src/callwatch/store/codec.py``, loaded beside this tree), for a before/after figure (the two
take turns, one run each per round).

pydantic comes with FastAPI; ``attrs`` and ``cattrs`` are needed for this script only
(``pip install cattrs``). A script that prints figures; no test asserts them.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import types
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import attrs
import cattrs
import msgspec
import pydantic
from cattrs.gen import make_dict_structure_fn, make_dict_unstructure_fn, override
from cattrs.strategies import configure_tagged_union

from callwatch.capture import CaptureStats, read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallbackNews, CallPipeline, JudgedCall
from callwatch.records import convert
from callwatch.records import schema as s
from callwatch.store import codec

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PCAP = ROOT / "bench" / "out" / "sipp_20000.pcap"
TOP: tuple[type[msgspec.Struct], ...] = (
    s.CallPayload,
    s.CallbackPayload,
    *s.EVENT_RECORDS.values(),
)


def outputs(pcap: Path) -> list[Any]:
    """The pipeline's outputs for ``pcap`` (examples/site.toml)."""
    pipe = CallPipeline(load_site(ROOT / "examples" / "site.toml"))
    out: list[Any] = []
    for packet in read_capture(pcap, CaptureStats()):
        out += pipe.push(packet)
    out += pipe.flush()
    return out


def full_record(item: Any) -> msgspec.Struct:
    if isinstance(item, JudgedCall):
        return convert.call_payload(item)
    if isinstance(item, CallbackNews):
        return convert.callback_payload(item)
    return convert.event_record(item)


def best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


# -- the same types for pydantic and attrs -------------------------------------------------------


def _plain(tp: Any, mapping: Callable[[Any], Any]) -> Any:
    """``tp`` with ``UnsetType`` read as None and Struct types mapped."""
    if tp is msgspec.UnsetType:
        return type(None)
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return mapping(tp)
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        args = tuple(dict.fromkeys(_plain(a, mapping) for a in typing.get_args(tp)))
        return typing.Union[args]  # noqa: UP007
    if origin in (list, tuple):
        args = tuple(a if a is Ellipsis else _plain(a, mapping) for a in typing.get_args(tp))
        return origin[args]
    return tp


def _fields(cls: type[msgspec.Struct]) -> list[tuple[str, str, Any, Any]]:
    """(name, JSON name, type, default or NODEFAULT) of each field."""
    hints = typing.get_type_hints(cls)
    out = []
    for f in msgspec.structs.fields(cls):
        default = f.default
        if default is msgspec.UNSET:
            default = None
        out.append((f.name, f.encode_name, hints[f.name], default))
    return out


def _tag(cls: type[msgspec.Struct]) -> tuple[str, str] | None:
    config = cls.__struct_config__
    if config.tag_field is None:
        return None
    return config.tag_field, config.tag


_PYD: dict[type, type[pydantic.BaseModel]] = {}


def pydantic_model(cls: type[msgspec.Struct]) -> type[pydantic.BaseModel]:
    if cls in _PYD:
        return _PYD[cls]
    spec: dict[str, Any] = {}
    tag = _tag(cls)
    if tag is not None:
        spec[tag[0]] = (Literal[tag[1]], tag[1])  # type: ignore[valid-type]
    for name, wire, tp, default in _fields(cls):
        tp = _plain(tp, pydantic_model)
        if isinstance(default, tuple):
            default = list(default)
        info = pydantic.Field(
            ... if default is msgspec.NODEFAULT else default,
            alias=wire if wire != name else None,
        )
        spec[name] = (tp, info)
    model = pydantic.create_model(
        cls.__name__,
        __config__=pydantic.ConfigDict(populate_by_name=True),
        **spec,
    )
    _PYD[cls] = model
    return model


_ATTRS: dict[type, type] = {}


def attrs_class(cls: type[msgspec.Struct]) -> type:
    if cls in _ATTRS:
        return _ATTRS[cls]
    spec: dict[str, Any] = {}
    for name, _, tp, default in _fields(cls):
        tp = _plain(tp, attrs_class)
        if default is msgspec.NODEFAULT:
            spec[name] = attrs.field(type=tp, kw_only=True)
        else:
            spec[name] = attrs.field(type=tp, default=default, kw_only=True)
    made = attrs.make_class(cls.__name__, spec, frozen=False, slots=True)
    _ATTRS[cls] = made
    return made


def cattrs_converter() -> cattrs.Converter:
    conv = cattrs.Converter()

    def register(cls: type[msgspec.Struct]) -> None:
        made = attrs_class(cls)
        renames = {n: override(rename=w) for n, w, _, _ in _fields(cls) if n != w}
        conv.register_unstructure_hook(
            made, make_dict_unstructure_fn(made, conv, _cattrs_omit_if_default=False, **renames)
        )
        conv.register_structure_hook(made, make_dict_structure_fn(made, conv, **renames))

    for cls in s.EVENT_RECORDS.values():
        register(cls)
    union = typing.Union[tuple(attrs_class(c) for c in s.EVENT_RECORDS.values())]  # noqa: UP007
    names = {attrs_class(c): tag for tag, c in s.EVENT_RECORDS.items()}
    configure_tagged_union(union, conv, tag_generator=names.__getitem__, tag_name="event")
    for cls in (
        s.VerdictRecord,
        s.TransferRecord,
        s.CallbackRecord,
        s.LegRecord,
        s.CallPayload,
        s.CallbackPayload,
    ):
        register(cls)
    return conv


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pcap", type=Path, default=DEFAULT_PCAP)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", metavar="REV", help="also time REV's store.codec")
    args = parser.parse_args()
    if not args.pcap.exists():
        sys.exit(f"bench: {args.pcap} is missing (python bench/ingest.py --calls 20000 makes it)")

    items = outputs(args.pcap)
    calls = sum(isinstance(i, JudgedCall) for i in items)
    records = [full_record(i) for i in items]
    print(
        f"{args.pcap.name}: {len(items)} outputs ({calls} judged calls, "
        f"{sum(isinstance(i, CallbackNews) for i in items)} callback news, "
        f"{len(items) - calls} leg events), best of {args.repeat}"
    )
    per_call = 1e6 / calls

    # msgspec
    enc = msgspec.json.Encoder()
    blobs = [enc.encode(r) for r in records]
    size = sum(map(len, blobs))
    decoders = {t: msgspec.json.Decoder(t) for t in (s.CallPayload, s.CallbackPayload, s.Event)}
    kinds = [
        s.CallPayload
        if isinstance(r, s.CallPayload)
        else s.CallbackPayload
        if isinstance(r, s.CallbackPayload)
        else s.Event
        for r in records
    ]
    results: dict[str, tuple[float, float]] = {}
    e = best(lambda: [enc.encode(r) for r in records], args.repeat)
    d = best(
        lambda: [decoders[k].decode(b) for k, b in zip(kinds, blobs, strict=True)], args.repeat
    )
    assert [decoders[k].decode(b) for k, b in zip(kinds, blobs, strict=True)] == records
    results["msgspec"] = (e, d)

    # pydantic
    pyd_types = [
        pydantic_model(s.CallPayload)
        if k is s.CallPayload
        else pydantic_model(s.CallbackPayload)
        if k is s.CallbackPayload
        else None
        for k in kinds
    ]
    event_union = typing.Annotated[
        typing.Union[tuple(pydantic_model(c) for c in s.EVENT_RECORDS.values())],  # noqa: UP007
        pydantic.Field(discriminator="event"),
    ]
    adapters = {
        None: pydantic.TypeAdapter(event_union),
        pydantic_model(s.CallPayload): pydantic.TypeAdapter(pydantic_model(s.CallPayload)),
        pydantic_model(s.CallbackPayload): pydantic.TypeAdapter(pydantic_model(s.CallbackPayload)),
    }
    pyd_objs = [adapters[t].validate_json(b) for t, b in zip(pyd_types, blobs, strict=True)]
    e = best(lambda: [o.model_dump_json(by_alias=True) for o in pyd_objs], args.repeat)
    d = best(
        lambda: [adapters[t].validate_json(b) for t, b in zip(pyd_types, blobs, strict=True)],
        args.repeat,
    )
    results["pydantic"] = (e, d)

    # attrs + cattrs
    conv = cattrs_converter()
    att_types = [
        attrs_class(s.CallPayload)
        if k is s.CallPayload
        else attrs_class(s.CallbackPayload)
        if k is s.CallbackPayload
        else typing.Union[tuple(attrs_class(c) for c in s.EVENT_RECORDS.values())]  # noqa: UP007
        for k in kinds
    ]
    att_objs = [conv.structure(json.loads(b), t) for t, b in zip(att_types, blobs, strict=True)]
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    e = best(
        lambda: [
            dumps(conv.unstructure(o, t)).encode() for o, t in zip(att_objs, att_types, strict=True)
        ],
        args.repeat,
    )
    d = best(
        lambda: [conv.structure(json.loads(b), t) for t, b in zip(att_types, blobs, strict=True)],
        args.repeat,
    )
    results["attrs+cattrs"] = (e, d)

    print(f"JSON: {size / len(blobs):.0f} bytes per output, {size / calls:.0f} per call")
    print(f"{'library':<14}{'encode µs/call':>16}{'decode µs/call':>16}")
    for name, (e, d) in results.items():
        print(f"{name:<14}{e * per_call:>16.1f}{d * per_call:>16.1f}")

    # the whole path with msgspec: domain objects <-> JSON bytes
    e = best(lambda: [enc.encode(full_record(i)) for i in items], args.repeat)
    d = best(
        lambda: [
            convert.event_from_record(r)
            if k is s.Event
            else convert.judged_from_record(r, pipe_profiles)
            if k is s.CallPayload
            else convert.news_from_record(r)
            for k, r in ((k, decoders[k].decode(b)) for k, b in zip(kinds, blobs, strict=True))
        ],
        args.repeat,
    )
    print(
        f"msgspec, pipeline output <-> JSON bytes: encode {e * per_call:.1f} µs/call, "
        f"decode {d * per_call:.1f} µs/call"
    )
    seams: dict[str, Any] = {"store.codec (this tree)": codec}
    if args.before:
        seams[f"store.codec ({args.before})"] = codec_at(args.before)
    # the seams take turns, one run each per round, so a change of load hits them alike
    figures = {name: (float("inf"), float("inf")) for name in seams}
    for _ in range(args.repeat):
        for name, module in seams.items():
            e, d = seam(module, items, 1)
            figures[name] = (min(figures[name][0], e), min(figures[name][1], d))
    for name, (e, d) in figures.items():
        e, d = e * per_call, d * per_call
        print(f"{name} + json: encode {e:.1f} µs/call, decode {d:.1f} µs/call")


def codec_at(rev: str) -> types.ModuleType:
    """``src/callwatch/store/codec.py`` as the git revision ``rev`` had it, as a module."""
    source = subprocess.run(
        ["git", "show", f"{rev}:src/callwatch/store/codec.py"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    module = types.ModuleType(f"codec_{rev}")
    exec(compile(source, f"{rev}:src/callwatch/store/codec.py", "exec"), module.__dict__)
    return module


def seam(module: Any, items: list[Any], repeat: int) -> tuple[float, float]:
    """Seconds to write ``items`` as the spool does (encode_output, json.dumps) and to read
    them back (json.loads, decode_output), best of ``repeat``."""
    dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
    lines = [dumps(module.encode_output(i)) for i in items]
    back = [module.decode_output(json.loads(line), pipe_profiles) for line in lines]
    assert back == items
    e = best(lambda: [dumps(module.encode_output(i)) for i in items], repeat)
    d = best(
        lambda: [module.decode_output(json.loads(line), pipe_profiles) for line in lines], repeat
    )
    return e, d


pipe_profiles = load_site(ROOT / "examples" / "site.toml").profiles

if __name__ == "__main__":
    main()
