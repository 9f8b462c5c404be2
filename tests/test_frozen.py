"""The hand-written construction paths of the core's frozen classes (callwatch.frozen) store
exactly the class's fields: a field added to a class and not to its shortcut fails here."""

from __future__ import annotations

import ast
import inspect
import textwrap
from dataclasses import fields

import pytest

import callwatch.pipeline
from callwatch.frozen import FAST_INITS, runs_compiled


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


def test_the_check_sees_a_missing_field() -> None:
    def partial(self: object, a: int) -> None:
        object.__setattr__(self, "a", a)

    assert stored_fields(partial) == {"a"}
