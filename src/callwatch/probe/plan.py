"""When the next probe call goes out: the ``[probes]`` table and a sans-IO planner.

Site file (no ``[probes]`` table, or ``enabled = false``: no probe call is ever placed)::

    [probes]
    enabled = true
    server = "192.0.2.10"          # the PBX's SIP address (UDP)
    port = 5060                    # its SIP port
    bind = "192.0.2.50"            # the probe phone's own address and SIP port
    sip_port = 5060
    departments = ["민원"]          # optional: default every department with a public number
    daily_budget = 2               # probe calls per department per working day
    max_per_hour = 4               # a hard cap on probe calls per rolling hour, all departments
    answer_limit_s = 30            # give up (CANCEL) after this long without an answer
    talk_s = 4                     # hang up (BYE) this long after the answer
    prompt = true                  # play the bundled prompt; or a WAV path relative to the file
    missing_after_s = 60           # serve: a probe not captured this long after it ended is
                                   # "missing" (the monitoring alert)

The account comes from the environment, never the file: ``CALLWATCH_PROBE_USER`` and
``CALLWATCH_PROBE_SECRET``. A probe only ever dials the first public number (``numbers``) of
one of the site's own departments.

The table is checked by a pydantic model (:class:`ProbesTable`, each value's validator
saying what is wrong); which departments it may probe is checked against the site's
directory beside it, so :func:`probe_problems` lists every mistake at once.

:func:`next_probe` is pure: given the time, the calls already placed and a seeded
``random.Random``, it names the next call: a working day of the site's office hours (the
site's ``[site.business_hours]``, else 09:00-18:00 Monday-Friday), a random moment spread so
the day's remaining budget fits before closing, a department drawn in proportion to what is
left of its budget, and never more than ``max_per_hour`` calls in any hour.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError

from callwatch.charter.hours import BusinessHours
from callwatch.validation import fail
from callwatch.validation import problems as _problems

USER_ENV, SECRET_ENV = "CALLWATCH_PROBE_USER", "CALLWATCH_PROBE_SECRET"
_HOUR_US = 3_600_000_000
_SEARCH_DAYS = 31
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ProbeConfigError(ValueError):
    """A ``[probes]`` table that cannot be used; ``problems`` lists every mistake."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(problems))


@dataclass(frozen=True, slots=True)
class ProbeSettings:
    """The ``[probes]`` table, checked. ``targets`` maps each probed department to the
    public number the probe dials."""

    enabled: bool
    server: str
    targets: Mapping[str, str]
    port: int = 5060
    bind: str = "0.0.0.0"
    sip_port: int = 5060
    daily_budget: int = 2
    max_per_hour: int = 4
    answer_limit_s: float = 30.0
    talk_s: float = 4.0
    prompt: Path | None = None
    play_prompt: bool = True
    missing_after_s: float = 60.0


@dataclass(frozen=True, slots=True)
class PlannedProbe:
    """The next probe call: when (µs since the epoch), which department, which number."""

    at: int
    department: str
    number: str


def probe_problems(table: Any, numbers: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """Every mistake in a ``[probes]`` table (keys as ``probes.<key>: message``)."""
    problems: list[str] = []
    _parse(table, Path("."), numbers, problems)
    return problems


def parse_probes(table: Any, base: Path, numbers: Mapping[str, Sequence[str]]) -> ProbeSettings:
    """The settings of a ``[probes]`` table; ``numbers`` maps each department to its public
    numbers (the directory). Raises :class:`ProbeConfigError` listing every mistake."""
    problems: list[str] = []
    settings = _parse(table, base, numbers, problems)
    if problems or settings is None:
        raise ProbeConfigError(problems)
    return settings


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise fail(f"{value!r} is not true or false")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise fail(f"{value!r} is not text")
    return value


def _port(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(f"{value!r} is not a whole number")
    if not 0 < value < 65536:
        raise fail(f"{value} is not a UDP port")
    return value


def _at_least_one(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise fail(f"{value!r} is not a whole number")
    if value < 1:
        raise fail(f"must be at least 1, not {value}")
    return value


def _seconds(low: float, high: float) -> PlainValidator:
    def check(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise fail(f"{value!r} is not a number")
        if not low <= value <= high:
            raise fail(f"{float(value)} s is not between {low:g} and {high:g} s")
        return float(value)

    return PlainValidator(check)


def _prompt(value: Any) -> bool | str:
    if not isinstance(value, bool | str):
        raise fail(f"{value!r} is not true, false or a WAV path")
    return value


def _names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(n, str) for n in value):
        raise fail("must be a list of department names")
    return tuple(value)


class ProbesTable(BaseModel):
    """The ``[probes]`` table as the file gives it (which departments can be probed is
    checked against the site's directory beside it, in :func:`parse_probes`)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    enabled: Annotated[bool, PlainValidator(_flag)] = False
    server: Annotated[str, PlainValidator(_text)] = ""
    port: Annotated[int, PlainValidator(_port)] = 5060
    bind: Annotated[str, PlainValidator(_text)] = "0.0.0.0"
    sip_port: Annotated[int, PlainValidator(_port)] = 5060
    departments: Annotated[tuple[str, ...] | None, PlainValidator(_names)] = None
    daily_budget: Annotated[int, PlainValidator(_at_least_one)] = 2
    max_per_hour: Annotated[int, PlainValidator(_at_least_one)] = 4
    answer_limit_s: Annotated[float, _seconds(1, 120)] = 30.0
    talk_s: Annotated[float, _seconds(0, 30)] = 4.0
    prompt: Annotated[bool | str, PlainValidator(_prompt)] = True
    missing_after_s: Annotated[float, _seconds(15, 3600)] = 60.0


KEYS = tuple(ProbesTable.model_fields)
"""The keys a ``[probes]`` table may hold."""


def _parse(
    table: Any, base: Path, numbers: Mapping[str, Sequence[str]] | None, problems: list[str]
) -> ProbeSettings | None:
    if not isinstance(table, dict):
        problems.append("probes: must be a table [probes]")
        return None
    model: ProbesTable | None = None
    try:
        model = ProbesTable.model_validate(table)
    except ValidationError as exc:
        problems += [
            f"{key}: {message}" for key, message in _problems(exc, ProbesTable, None, ("probes",))
        ]
    enabled = table.get("enabled") is True
    if enabled and table.get("server", "") == "":
        problems.append("probes.server: missing (the PBX's SIP address)")
    targets = _targets(table.get("departments"), numbers, enabled, problems)
    if model is None:
        return None
    prompt = model.prompt
    return ProbeSettings(
        enabled=model.enabled, server=model.server, targets=targets, port=model.port,
        bind=model.bind, sip_port=model.sip_port, daily_budget=model.daily_budget,
        max_per_hour=model.max_per_hour, answer_limit_s=model.answer_limit_s,
        talk_s=model.talk_s, prompt=base / prompt if isinstance(prompt, str) else None,
        play_prompt=prompt is not False, missing_after_s=model.missing_after_s,
    )  # fmt: skip


def _targets(
    chosen: Any, numbers: Mapping[str, Sequence[str]] | None, enabled: bool, problems: list[str]
) -> dict[str, str]:
    """The departments to probe (``chosen``, default every one with a public number) and the
    first public number of each; those that are not the site's or have no number as problems
    (None ``numbers``: the directory is not known, nothing is checked)."""
    targets: dict[str, str] = {}
    if numbers is None:
        return targets
    names = [d for d, n in numbers.items() if n] if chosen is None else chosen
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        names = []  # the model says what is wrong with it
    for i, name in enumerate(names):
        if not numbers.get(name):
            why = "has no public number" if name in numbers else "is not a department"
            problems.append(f"probes.departments[{i}]: {name!r} {why}")
        else:
            targets[name] = numbers[name][0]
    if enabled and not targets:
        problems.append("probes.departments: no department to probe")
    return targets


def next_probe(
    now: int,
    made: Sequence[tuple[int, str]],
    rng: random.Random,
    settings: ProbeSettings,
    hours: BusinessHours,
) -> PlannedProbe | None:
    """The next probe call after ``now`` (µs), given the calls ``made`` so far as
    ``(time µs, department)``; None when no working day is found within a month."""
    zone = ZoneInfo(hours.timezone)
    day = _local(now, zone).date()
    for _ in range(_SEARCH_DAYS):
        planned = _plan_day(day, now, made, rng, settings, hours, zone)
        if planned is not None:
            return planned
        day += timedelta(days=1)
    return None


def _plan_day(
    day: date,
    now: int,
    made: Sequence[tuple[int, str]],
    rng: random.Random,
    settings: ProbeSettings,
    hours: BusinessHours,
    zone: ZoneInfo,
) -> PlannedProbe | None:
    if not hours.is_open_day(day):
        return None
    opens, closes = _at(day, hours.start, zone), _at(day, hours.end, zone)
    start = max(now, opens)
    if start >= closes:
        return None
    today = [dept for at, dept in made if opens <= at < closes]
    left = {
        dept: settings.daily_budget - today.count(dept)
        for dept in settings.targets
        if today.count(dept) < settings.daily_budget
    }
    if not left:
        return None
    total = sum(left.values())
    at = start + rng.randrange(max(1, (closes - start) // total))
    at = _after_hourly_cap(at, [t for t, _ in made], settings.max_per_hour)
    if at >= closes:
        return None
    departments = sorted(left)
    department = rng.choices(departments, weights=[left[d] for d in departments])[0]
    return PlannedProbe(at, department, settings.targets[department])


def _after_hourly_cap(at: int, times: Sequence[int], cap: int) -> int:
    """The first moment at or after ``at`` with fewer than ``cap`` calls in the hour before."""
    while True:
        recent = sorted(t for t in times if at - _HOUR_US < t <= at)
        if len(recent) < cap:
            return at
        at = recent[len(recent) - cap] + _HOUR_US


def _local(ts: int, zone: ZoneInfo) -> datetime:
    return (_EPOCH + timedelta(microseconds=ts)).astimezone(zone)


def _at(day: date, clock: Any, zone: ZoneInfo) -> int:
    return (datetime.combine(day, clock, tzinfo=zone) - _EPOCH) // timedelta(microseconds=1)
