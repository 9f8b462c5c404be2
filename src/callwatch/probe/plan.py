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

The account comes from the environment, never the file: ``CALLWATCH_PROBE_USER`` and
``CALLWATCH_PROBE_SECRET``. A probe only ever dials the first public number (``numbers``) of
one of the site's own departments.

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
from typing import Any
from zoneinfo import ZoneInfo

from callwatch.charter.hours import BusinessHours

KEYS = (
    "enabled", "server", "port", "bind", "sip_port", "departments", "daily_budget",
    "max_per_hour", "answer_limit_s", "talk_s", "prompt",
)  # fmt: skip
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


def _parse(
    table: Any, base: Path, numbers: Mapping[str, Sequence[str]] | None, problems: list[str]
) -> ProbeSettings | None:
    if not isinstance(table, dict):
        problems.append("probes: must be a table [probes]")
        return None
    for key in table:
        if key not in KEYS:
            problems.append(f"probes.{key}: unknown key (expected one of {', '.join(KEYS)})")

    def get(key: str, kind: type | tuple[type, ...], default: Any) -> Any:
        value = table.get(key, default)
        if not isinstance(value, kind) or isinstance(value, bool) is not (kind is bool):
            problems.append(f"probes.{key}: {value!r} is not a {getattr(kind, '__name__', kind)}")
            return default
        return value

    enabled = get("enabled", bool, False)
    server = get("server", str, "")
    if enabled and not server:
        problems.append("probes.server: missing (the PBX's SIP address)")
    port, sip_port = get("port", int, 5060), get("sip_port", int, 5060)
    for key, value in (("port", port), ("sip_port", sip_port)):
        if not 0 < value < 65536:
            problems.append(f"probes.{key}: {value} is not a UDP port")
    budget, cap = get("daily_budget", int, 2), get("max_per_hour", int, 4)
    for key, value in (("daily_budget", budget), ("max_per_hour", cap)):
        if value < 1:
            problems.append(f"probes.{key}: must be at least 1, not {value}")
    limit = float(get("answer_limit_s", (int, float), 30.0))
    talk = float(get("talk_s", (int, float), 4.0))
    if not 1 <= limit <= 120:
        problems.append(f"probes.answer_limit_s: {limit} s is not between 1 and 120 s")
    if not 0 <= talk <= 30:
        problems.append(f"probes.talk_s: {talk} s is not between 0 and 30 s")
    prompt_raw = table.get("prompt", True)
    prompt: Path | None = None
    if isinstance(prompt_raw, str):
        prompt = base / prompt_raw
    elif not isinstance(prompt_raw, bool):
        problems.append(f"probes.prompt: {prompt_raw!r} is not true, false or a WAV path")
    chosen = table.get("departments")
    targets: dict[str, str] = {}
    if numbers is not None:
        names = [d for d, n in numbers.items() if n] if chosen is None else chosen
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            problems.append("probes.departments: must be a list of department names")
            names = []
        for i, name in enumerate(names):
            if not numbers.get(name):
                why = "has no public number" if name in numbers else "is not a department"
                problems.append(f"probes.departments[{i}]: {name!r} {why}")
            else:
                targets[name] = numbers[name][0]
        if enabled and not targets:
            problems.append("probes.departments: no department to probe")
    return ProbeSettings(
        enabled=enabled, server=server, targets=targets, port=port,
        bind=get("bind", str, "0.0.0.0"), sip_port=sip_port, daily_budget=budget,
        max_per_hour=cap, answer_limit_s=limit, talk_s=talk, prompt=prompt,
        play_prompt=prompt_raw is not False,
    )  # fmt: skip


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
