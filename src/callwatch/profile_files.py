"""Reading charter profiles from TOML files: the built-in ones under ``charter/profiles/`` and a
site's own. The file layout is described in :mod:`callwatch.charter.profile`; the rule tables
a file may hold, and their keys, are those of :mod:`callwatch.charter.registry`. The built-in
rules' tables are read into typed fields (with their own checks); another rule's table into a
:class:`~callwatch.charter.profile.Section` of plain values.

The built-in charters are the ``*.toml`` files shipped in that folder: a sixth charter is one
more file there, named by its ``id``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

from callwatch.charter import registry
from callwatch.charter.errors import ProfileError, UnknownProfileError
from callwatch.charter.profile import (
    PROFILE_KEYS,
    TYPED_TABLES,
    AnswerRule,
    Cadence,
    CallbackRule,
    DeadlineClock,
    HangupRule,
    Keeps,
    Profile,
    Section,
    TransferRule,
)

_T = TypeVar("_T")

_DEADLINE_CLOCKS: dict[str, DeadlineClock] = {"wall": "wall", "business": "business"}
_KEEPS: dict[str, Keeps] = {"answered": "answered", "attempt": "attempt"}
"""The words a profile may write for ``callback.deadline_clock`` and ``callback.keeps``."""

_FOLDER = resources.files("callwatch.charter").joinpath("profiles")

BUILTIN: tuple[str, ...] = tuple(
    sorted(
        ref.name.removesuffix(".toml") for ref in _FOLDER.iterdir() if ref.name.endswith(".toml")
    )
)
"""The ids of the charters shipped with callwatch."""


def builtin_profiles() -> dict[str, Profile]:
    """The charters shipped with callwatch, by id."""
    return {name: _load_builtin(name) for name in BUILTIN}


def load_profile(name_or_path: str | Path) -> Profile:
    """Load a built-in profile by id (``"naju"``) or a profile file by path.

    Raises :class:`UnknownProfileError` for a name that is neither, and :class:`ProfileError`
    (naming the file and key) for a file that does not validate.
    """
    text = str(name_or_path)
    if isinstance(name_or_path, str) and text in BUILTIN:
        return _load_builtin(text)
    path = Path(name_or_path)
    if path.suffix != ".toml" and not path.exists():
        known = ", ".join(BUILTIN)
        raise UnknownProfileError(
            f"unknown charter {text!r}: not a built-in profile ({known}) nor a .toml file"
        )
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProfileError(path, "", f"cannot read profile: {exc.strerror or exc}") from exc
    return parse_profile(raw, str(path))


def parse_profile(raw: bytes | str, origin: str) -> Profile:
    """Parse and validate profile TOML; ``origin`` names the file in error messages."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(origin, "", f"not valid TOML: {exc}") from exc
    return _Reader(origin).profile(data)


def _load_builtin(name: str) -> Profile:
    ref = _FOLDER.joinpath(f"{name}.toml")
    return parse_profile(ref.read_bytes(), f"callwatch/charter/profiles/{name}.toml")


_TABLES: dict[str, tuple[str, ...]] = {"name": ("ko", "en"), "cadence": ("on_s", "off_s")}
"""The keys of the tables every profile may hold; the rules' tables come from the registry."""


def _tables() -> dict[str, tuple[str, ...]]:
    """Every table a profile file may hold and its keys: name, cadence and one per rule."""
    return {**_TABLES, **{rule.section: rule.keys for rule in registry.rules()}}


class _Reader:
    """Typed access to a parsed profile, raising :class:`ProfileError` with file and key."""

    def __init__(self, origin: str) -> None:
        self.origin = origin

    def fail(self, key: str, message: str) -> ProfileError:
        return ProfileError(self.origin, key, message)

    def profile(self, data: dict[str, Any]) -> Profile:
        tables = _tables()
        top = {*PROFILE_KEYS, *tables}
        for key in data:
            if key not in top:
                raise self.fail(key, f"unknown key (expected one of {', '.join(sorted(top))})")
        for table, keys in tables.items():
            section = data.get(table)
            if section is None:
                continue
            if not isinstance(section, dict):
                raise self.fail(table, "must be a table")
            for key in section:
                if key not in keys:
                    raise self.fail(f"{table}.{key}", f"unknown key in [{table}]")
        pid = self.text(data, "id")
        if not pid.isidentifier() and not pid.replace("-", "_").isidentifier():
            raise self.fail("id", f"{pid!r} is not a simple name")
        name = self.table(data, "name", required=True)
        cadence = Cadence()
        if (section := self.table(data, "cadence")) is not None:
            cadence = Cadence(
                on_s=self.number(section, "cadence.on_s", default=1.0, positive=True),
                off_s=self.number(section, "cadence.off_s", default=2.0, minimum=0.0),
            )
        return Profile(
            id=pid,
            name_ko=self.text(name, "name.ko"),
            name_en=self.text(name, "name.en"),
            source_file=self.text(data, "source_file"),
            cadence=cadence,
            answer=self.optional(data, "answer", self._answer),
            transfer=self.optional(data, "transfer", self._transfer),
            hangup=self.optional(data, "hangup", self._hangup),
            callback=self.optional(data, "callback", self._callback),
            path=self.origin,
            more=tuple(
                self._section(rule.section, data[rule.section])
                for rule in registry.rules()
                if rule.section not in TYPED_TABLES and rule.section in data
            ),
        )

    def _section(self, name: str, s: dict[str, Any]) -> Section:
        for key, value in s.items():
            if not isinstance(value, str | int | float | bool):
                raise self.fail(
                    f"{name}.{key}", f"must be a string, number or true/false, not {value!r}"
                )
        return Section(name, tuple(s.items()))

    def _answer(self, s: dict[str, Any]) -> AnswerRule:
        ring = s.get("before_ring")
        if isinstance(ring, bool) or not isinstance(ring, int) or ring < 2:
            raise self.fail("answer.before_ring", "must be an integer ≥ 2")
        return AnswerRule(before_ring=ring, source=self.text(s, "answer.source"))

    def _transfer(self, s: dict[str, Any]) -> TransferRule:
        return TransferRule(
            limit_s=self.number(s, "transfer.limit_s", positive=True),
            inclusive=self.flag(s, "transfer.inclusive", default=True),
            source=self.text(s, "transfer.source"),
        )

    def _hangup(self, s: dict[str, Any]) -> HangupRule:
        delay = None
        if "staff_delay_s" in s:
            delay = self.number(s, "hangup.staff_delay_s", minimum=0.0)
        return HangupRule(
            caller_first=self.flag(s, "hangup.caller_first"),
            source=self.text(s, "hangup.source"),
            staff_delay_s=delay,
            note=self.text(s, "hangup.note", default=""),
        )

    def _callback(self, s: dict[str, Any]) -> CallbackRule:
        deadline = None
        if "deadline_min" in s:
            deadline = self.number(s, "callback.deadline_min", positive=True) * 60.0
        promised = self.flag(s, "callback.promised_time", default=False)
        if deadline is None and not promised:
            raise self.fail(
                "callback.deadline_min",
                "a callback promise needs deadline_min or promised_time = true "
                "(leave the [callback] table out when the charter makes none)",
            )
        clock_text = self.text(s, "callback.deadline_clock", default="wall")
        clock = _DEADLINE_CLOCKS.get(clock_text)
        if clock is None:
            raise self.fail(
                "callback.deadline_clock", f"{clock_text!r}: expected 'wall' or 'business'"
            )
        keeps_text = self.text(s, "callback.keeps")
        keeps = _KEEPS.get(keeps_text)
        if keeps is None:
            raise self.fail("callback.keeps", f"{keeps_text!r}: expected 'answered' or 'attempt'")
        return CallbackRule(
            deadline_s=deadline,
            promised_time=promised,
            deadline_clock=clock,
            keeps=keeps,
            keeps_why=self.text(s, "callback.keeps_why"),
            source=self.text(s, "callback.source"),
        )

    def optional(
        self, data: dict[str, Any], key: str, build: Callable[[dict[str, Any]], _T]
    ) -> _T | None:
        section = self.table(data, key)
        return None if section is None else build(section)

    def table(self, data: dict[str, Any], key: str, required: bool = False) -> Any:
        if key not in data:
            if required:
                raise self.fail(key, "missing table")
            return None
        return data[key]

    def text(self, data: dict[str, Any], key: str, default: str | None = None) -> str:
        leaf = key.rsplit(".", 1)[-1]
        if leaf not in data:
            if default is not None:
                return default
            raise self.fail(key, "missing")
        value = data[leaf]
        if not isinstance(value, str) or (default is None and not value.strip()):
            raise self.fail(key, f"must be a non-empty string, not {value!r}")
        return value

    def flag(self, data: dict[str, Any], key: str, default: bool | None = None) -> bool:
        leaf = key.rsplit(".", 1)[-1]
        if leaf not in data:
            if default is not None:
                return default
            raise self.fail(key, "missing")
        value = data[leaf]
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value

    def number(
        self,
        data: dict[str, Any],
        key: str,
        default: float | None = None,
        positive: bool = False,
        minimum: float | None = None,
    ) -> float:
        leaf = key.rsplit(".", 1)[-1]
        if leaf not in data:
            if default is not None:
                return default
            raise self.fail(key, "missing")
        value = data[leaf]
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self.fail(key, f"must be a number, not {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise self.fail(key, "must be a finite number")
        if positive and value <= 0:
            raise self.fail(key, f"must be > 0, not {value}")
        if minimum is not None and value < minimum:
            raise self.fail(key, f"must be ≥ {minimum}, not {value}")
        return float(value)
