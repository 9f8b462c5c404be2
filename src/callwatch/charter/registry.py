"""The charter rules, each declared once: its name, its Korean and English titles, the unit
the charters word its limit in, the profile table and keys it reads, and its pure function.

Everything that lists rules reads this registry, in its order: ``judge()`` in
:mod:`callwatch.charter.rules`, the profile reader (which tables and keys a charter file may
hold), the ko/en catalogue (``rule.<name>``), the API's ``rule`` enum, the pages' charts, the
command line's table, the reports and the exports. The built-in rules register themselves in
:mod:`callwatch.charter.rules`, which the ``callwatch.charter`` package imports, so the
registry holds them as soon as any charter module is loaded.

A rule judges either a call (``on_call``) or the callback a missed call opened
(``on_callback``); both return the rule's verdicts (none, one, or one per transfer).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from callwatch.calls.model import Call
from callwatch.charter.callbacks import Callback
from callwatch.charter.profile import PROFILE_KEYS, Profile
from callwatch.charter.verdict import Verdict
from callwatch.fieldpickle import pickle_by_fields


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit of time as the charters word it (``10초``, ``30분``, ``3시간``)."""

    key: str
    ko: str
    en: str
    seconds: int

    def text(self, lang: str) -> str:
        """The unit's word in ``lang`` (``ko`` or ``en``)."""
        return self.ko if lang == "ko" else self.en


SECOND = Unit("s", "초", "s", 1)
MINUTE = Unit("min", "분", "min", 60)
HOUR = Unit("h", "시간", "h", 3600)
UNITS: tuple[Unit, ...] = (SECOND, MINUTE, HOUR)


def worded(seconds: float, smallest: Unit = SECOND) -> tuple[float, Unit]:
    """``seconds`` in the largest unit (not below ``smallest``) that states it whole, as the
    charters do: ``3600`` → ``(1, HOUR)``, ``1800`` → ``(30, MINUTE)``, ``10`` → ``(10, SECOND)``.
    A value no larger unit divides stays in ``smallest``."""
    for unit in reversed(UNITS):
        if unit.seconds < smallest.seconds:
            break
        value = seconds / unit.seconds
        if value >= 1 and float(value).is_integer():
            return value, unit
    return seconds / smallest.seconds, smallest


CallJudge = Callable[[Call, Profile], list[Verdict]]
CallbackJudge = Callable[[Callback, Profile], list[Verdict]]


@dataclass(frozen=True, slots=True)
class RuleSpec:
    """One charter rule.

    ``unit`` is the unit its measure and limit are shown in (the verdicts themselves carry
    seconds); None for a rule with no measure (who hung up first). ``section`` is the profile
    table the rule reads and ``keys`` the keys that table may hold; a charter without that
    table does not make the promise, and the rule then gives no verdict.
    """

    name: str
    title_ko: str
    title_en: str
    unit: Unit | None
    section: str
    keys: tuple[str, ...]
    on_call: CallJudge | None = None
    on_callback: CallbackJudge | None = None

    def title(self, lang: str) -> str:
        """The rule's title in ``lang`` (``ko`` or ``en``)."""
        return self.title_ko if lang == "ko" else self.title_en


class RegistryError(ValueError):
    """A rule that cannot be registered (name or table taken, nothing to judge)."""


_RULES: list[RuleSpec] = []
_ORDER: tuple[RuleSpec, ...] = ()


def register(rule: RuleSpec) -> RuleSpec:
    """Add ``rule`` after the rules already registered and return it."""
    global _ORDER
    if not rule.name.isidentifier():
        raise RegistryError(f"rule name {rule.name!r} is not a simple name")
    if (rule.on_call is None) == (rule.on_callback is None):
        raise RegistryError(f"rule {rule.name!r} needs exactly one of on_call and on_callback")
    if rule.section in PROFILE_KEYS:
        raise RegistryError(f"rule {rule.name!r}: [{rule.section}] is a profile table already")
    for other in _RULES:
        if other.name == rule.name or other.section == rule.section:
            raise RegistryError(f"rule {rule.name!r}: name or table taken by {other.name!r}")
    _RULES.append(rule)
    _ORDER = tuple(_RULES)
    return rule


def unregister(name: str) -> None:
    """Remove the rule called ``name`` (a test's own rule once it is done)."""
    global _ORDER
    _RULES[:] = [r for r in _RULES if r.name != name]
    _ORDER = tuple(_RULES)


def rules() -> tuple[RuleSpec, ...]:
    """Every registered rule, in registration order."""
    return _ORDER


def get(name: str) -> RuleSpec | None:
    """The rule called ``name``, or None."""
    for rule in _ORDER:
        if rule.name == name:
            return rule
    return None


def names() -> tuple[str, ...]:
    """The names of the registered rules, in order."""
    return tuple(r.name for r in _ORDER)


class _Names(Sequence[str]):
    """The registered rules' names, read at each use (so a module may hold it from import)."""

    @overload
    def __getitem__(self, index: int) -> str: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[str, ...]: ...
    def __getitem__(self, index: int | slice) -> str | tuple[str, ...]:
        return names()[index]

    def __len__(self) -> int:
        return len(_ORDER)

    def __iter__(self) -> Iterator[str]:
        return iter(names())

    def __repr__(self) -> str:
        return f"RULE_NAMES{names()!r}"


RULE_NAMES: Sequence[str] = _Names()
"""The registered rules' names in order, always current."""


# profiles name their rules: by field values (fieldpickle)
pickle_by_fields(Unit, RuleSpec)
