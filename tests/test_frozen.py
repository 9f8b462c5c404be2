"""The hand-written construction paths of the core's frozen classes (callwatch.frozen) store
exactly the class's fields: a field added to a class and not to its shortcut fails here."""

from __future__ import annotations

import ast
import copyreg
import importlib
import inspect
import pickle
import sys
import textwrap
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path

import pytest

import callwatch.pipeline
from callwatch.capture import CaptureStats, read_capture
from callwatch.config import load_site
from callwatch.frozen import FAST_INITS, runs_compiled
from callwatch.pipeline import CallPipeline, JudgedCall

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "build_backend"))
from core_modules import core_modules  # noqa: E402  (the modules the compiled build compiles)


def stored_fields(init: object) -> set[str]:
    """The names an ``__init__`` stores on ``self``: ``self.x = ...``,
    ``object.__setattr__(self, "x", ...)`` or a slot setter ``_set_x(self, ...)``."""
    tree = ast.parse(textwrap.dedent(inspect.getsource(init)))  # type: ignore[arg-type]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if (
                    isinstance(target, ast.Attribute)
                    and isinstance(target.value, ast.Name)
                    and target.value.id == "self"
                    and target.attr != "__class__"
                ):
                    names.add(target.attr)
        elif isinstance(node, ast.Call) and node.args:
            first = node.args[0]
            if not (isinstance(first, ast.Name) and first.id == "self"):
                continue
            func = node.func
            if (
                isinstance(func, ast.Attribute)
                and func.attr == "__setattr__"
                and isinstance(node.args[1], ast.Constant)
            ):
                names.add(str(node.args[1].value))
            elif isinstance(func, ast.Name) and func.id.startswith("_set_"):
                names.add(func.id.removeprefix("_set_"))
    return names


CASES = [
    pytest.param(cls, init, id=f"{cls.__name__}:{init.__qualname__}")
    for cls, inits in FAST_INITS
    for init in inits
]


def test_the_core_declares_its_shortcuts() -> None:
    declared = {cls.__name__ for cls, _ in FAST_INITS}
    assert {"Packet", "SipMessage", "Via", "NameAddr"} <= declared


@pytest.mark.skipif(runs_compiled(callwatch.pipeline.__file__), reason="reads the .py sources")
@pytest.mark.parametrize(("cls", "init"), CASES)
def test_each_shortcut_stores_exactly_the_fields(cls: type, init: object) -> None:
    assert stored_fields(init) == {f.name for f in fields(cls)}


SIGNATURE_EXEMPT = {"SipMessage"}
"""Shortcuts whose parameters differ from the fields on purpose: the message takes its parsed
parts (``vias``, the header index) as optional parameters that its fields do not default."""


@pytest.mark.skipif(runs_compiled(callwatch.pipeline.__file__), reason="reads the .py sources")
@pytest.mark.parametrize(
    "cls",
    [c for c, inits in FAST_INITS if c.__init__ in inits and c.__name__ not in SIGNATURE_EXEMPT],
    ids=lambda c: c.__qualname__,
)
def test_each_written_out_init_takes_the_fields_as_the_dataclass_would(cls: type) -> None:
    """Same names in the same order, keyword-only where the field is, the same defaults (a
    field with a default factory: None, which the ``__init__`` turns into a fresh value)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]  # type: ignore[misc]
    want = [
        (
            f.name,
            f.kw_only is True,
            None
            if f.default_factory is not MISSING
            else (inspect.Parameter.empty if f.default is MISSING else f.default),
        )
        for f in fields(cls)
    ]
    got = [(p.name, p.kind is inspect.Parameter.KEYWORD_ONLY, p.default) for p in params]
    assert got == want


def test_each_written_out_init_builds_what_the_generated_one_would() -> None:
    """Default factories give each instance a fresh value."""
    from callwatch.calls.model import Leg

    a, b = (Leg("l", "c", None, None, None, 0) for _ in range(2))
    assert a == b and a.events is not b.events


def test_the_check_sees_a_missing_field() -> None:
    def partial(self: object, a: int) -> None:
        object.__setattr__(self, "a", a)

    assert stored_fields(partial) == {"a"}


NOT_PICKLED = {
    "callwatch.sip.message.SipMessage",
    "callwatch.sip.message.Via",
    "callwatch.sip.events.LegEvent",
}
"""Frozen core classes that never cross as themselves: the store takes a message's fields
(``store_process.raw_fields``), not the parsed message, whose cached parts are not fields;
``LegEvent`` is the base of the event kinds, each of which is registered."""


def frozen_core_classes() -> list[type]:
    """Every frozen dataclass defined in a module the compiled build compiles."""
    found = []
    for name in sorted(core_modules(ROOT / "src")):
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and value.__module__ == name
                and is_dataclass(value)
                and value.__dataclass_params__.frozen  # type: ignore[attr-defined]
                and not value.__name__.startswith("_")
            ):
                found.append(value)
    return found


@pytest.mark.parametrize("cls", frozen_core_classes(), ids=lambda c: c.__qualname__)
def test_each_frozen_core_class_pickles_by_its_fields(cls: type) -> None:
    """mypyc's unpickling of a compiled class sets each attribute, which a frozen class refuses
    (the compiled service's store process once died unpickling the site): every frozen class
    that may cross to the store process or the journal pickles by its field values instead."""
    if f"{cls.__module__}.{cls.__qualname__}" in NOT_PICKLED:
        return
    assert cls in copyreg.dispatch_table or "__reduce__" in vars(cls), cls


def test_the_site_and_its_judged_calls_survive_pickling() -> None:
    site = load_site(ROOT / "examples" / "site.toml")
    again = pickle.loads(pickle.dumps(site))
    for name in ("name", "timezone", "charter", "profiles", "pbx", "business_hours"):
        assert getattr(again, name) == getattr(site, name), name
    assert again.directory.departments == site.directory.departments
    pipe = CallPipeline(site)
    outputs = []
    for packet in read_capture(ROOT / "sip_fixtures" / "blind_transfer.pcap", CaptureStats()):
        outputs += pipe.push(packet)
    outputs += pipe.flush()
    assert any(isinstance(o, JudgedCall) for o in outputs)
    assert pickle.loads(pickle.dumps(outputs)) == outputs
