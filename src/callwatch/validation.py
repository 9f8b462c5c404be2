"""What the file adapters share to check a file with pydantic and explain its mistakes.

:mod:`callwatch.config` (the site file), :mod:`callwatch.profile_files` (charter profiles) and
:mod:`callwatch.settings` (the ``[service]`` table and the environment) each declare their
file as pydantic models whose values go through small validators that fail with the sentence
a person reads (:func:`fail`: ``must be non-empty text, not 3 (int)``). :func:`problems` turns
a :class:`~pydantic.ValidationError` into ``(key path, message)`` pairs: ``departments[1].
extensions[0]``, an unknown key with the key it was probably meant to be, a missing one; and
:func:`line_map` finds the line each key path is written on, so ``check-config`` can name it.

Pydantic stays here and in those adapters (and :mod:`callwatch.probe.plan` for the
``[probes]`` table, :mod:`callwatch.reports.schedule` for ``[reports]``): the core receives
plain data (:class:`~callwatch.site.SiteConfig`,
:class:`~callwatch.charter.profile.Profile`).
"""

from __future__ import annotations

import difflib
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, BeforeValidator, ValidationError
from pydantic_core import PydanticCustomError

ERROR_TYPE = "callwatch"
"""The type of the errors :func:`fail` makes (their message is the whole sentence)."""

Loc = tuple[str | int, ...]


def fail(message: str) -> PydanticCustomError:
    """The error a validator raises: ``message`` is shown as it is (no braces are expanded)."""
    return PydanticCustomError(ERROR_TYPE, "{message}", {"message": message})


def show(value: Any) -> str:
    """A value as a message quotes it, with its TOML-side type: ``'2100' (str)``."""
    return f"{value!r} ({type(value).__name__})"


def shaped(kind: type | tuple[type, ...], message: str) -> BeforeValidator:
    """A check that the value is a ``kind`` (a table: ``dict``; an array: ``list``) before
    pydantic reads inside it, failing with ``message`` (``{shown}`` stands for the value)."""

    def check(value: Any) -> Any:
        if not isinstance(value, kind):
            raise fail(message.replace("{shown}", show(value)))
        return value

    return BeforeValidator(check)


def key_path(loc: Loc) -> str:
    """``("departments", 1, "extensions", 0)`` → ``departments[1].extensions[0]``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out = f"{out}.{part}" if out else part
    return out


def unknown_key(key: str, allowed: Sequence[str]) -> str:
    """The message for a key the table does not take, with the nearest allowed one."""
    near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
    hint = f"did you mean {near[0]!r}?" if near else f"expected one of {', '.join(allowed)}"
    return f"unknown key ({hint})"


def did_you_mean(word: str, known: Sequence[str], fallback: str) -> str:
    """``did you mean 'x'?`` for the nearest of ``known``, else ``fallback``."""
    near = difflib.get_close_matches(word, known, n=1)
    return f"did you mean {near[0]!r}?" if near else fallback


def allowed_keys(model: type[BaseModel], loc: Loc) -> tuple[str, ...]:
    """The keys the table at ``loc`` of ``model`` takes (array indexes are skipped)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        field = current.model_fields.get(part) if current is not None else None
        current = None if field is None else _model_in(field.annotation)
    return () if current is None else tuple(current.model_fields)


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model an annotation holds (``Model``, ``list[Model]``, ``Model | None``)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def problems(
    error: ValidationError,
    model: type[BaseModel],
    missing: Mapping[str, str] | None = None,
    base: Loc = (),
) -> list[tuple[str, str]]:
    """Every mistake of ``error`` as ``(key path, message)``, in the order pydantic found
    them. ``missing`` words the absence of particular keys (default ``missing``); ``base``
    is the location of ``model``'s table in the file (its keys are prefixed with it)."""
    found = []
    for item in error.errors(include_url=False):
        loc: Loc = tuple(item["loc"])
        kind = item["type"]
        if kind == "extra_forbidden":
            message = unknown_key(str(loc[-1]), allowed_keys(model, loc[:-1]))
        elif kind == "missing":
            message = (missing or {}).get(key_path(loc), "missing")
        elif kind == ERROR_TYPE:
            message = item["msg"]
        elif kind in ("model_type", "dict_type", "model_attributes_type"):
            message = f"must be a table, not {show(item['input'])}"
        else:  # pydantic's own sentence (a value checked by pydantic's own types)
            message = item["msg"]
        found.append((key_path(base + loc), message))
    return found


def first_unknown(found: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """``found`` with the unknown keys first (a misspelt key explains a missing one)."""
    return sorted(found, key=lambda p: not p[1].startswith("unknown key"))


_PARENT = re.compile(r"(\.[^.\[\]]*|\[\d+\])$")


def line_of(lines: Mapping[str, int], key: str) -> int | None:
    """The line of ``key`` in ``lines`` (:func:`line_map`), else of its nearest enclosing key
    written in the file; None when none is."""
    probe = key
    while probe:
        if probe in lines:
            return lines[probe]
        shorter = _PARENT.sub("", probe)
        probe = "" if shorter == probe else shorter
    return None


def line_map(text: str) -> dict[str, int]:
    """Key path → 1-based line where it is written (tables, array tables and plain keys, and
    the items of an array written over several lines: ``departments[1].extensions[2]``)."""
    lines: dict[str, int] = {}
    counts: dict[str, int] = {}
    prefix = ""
    array: str | None = None  # the key path of an array still open, and its next index
    item = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if array is not None:
            array, item = _array_items(line, array, item, number, lines)
            continue
        if line.startswith("[["):
            name = line[2:].split("]]", 1)[0].strip()
            index = counts.get(name, 0)
            counts[name] = index + 1
            prefix = f"{name}[{index}]"
            lines.setdefault(prefix, number)
        elif line.startswith("["):
            prefix = line[1:].split("]", 1)[0].strip()
            lines.setdefault(prefix, number)
        elif "=" in line and not line.startswith("#"):
            key, value = (part.strip() for part in line.split("=", 1))
            key = key.strip("\"'")
            path = f"{prefix}.{key}" if prefix else key
            lines.setdefault(path, number)
            if value.startswith("["):
                array, item = _array_items(value[1:], path, 0, number, lines)
    return lines


_ITEM = re.compile(r'"(?:[^"\\]|\\.)*"|\'[^\']*\'|[^\s,\]#"\']+|(\])|(#)')


def _array_items(
    text: str, path: str, item: int, number: int, lines: dict[str, int]
) -> tuple[str | None, int]:
    """Record the line of each array item on ``text``; None once the array is closed."""
    for match in _ITEM.finditer(text):
        if match.group(2):  # a comment: the rest of the line
            break
        if match.group(1):  # the closing bracket
            return None, 0
        lines.setdefault(f"{path}[{item}]", number)
        item += 1
    return path, item
