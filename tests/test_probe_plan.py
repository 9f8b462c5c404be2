"""The probe planner (sans-IO: time, budget and a seeded RNG in, the next call out) and the
``[probes]`` table of the site file."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from callwatch.charter.hours import BusinessHours
from callwatch.config import check_config
from callwatch.probe.plan import ProbeConfigError, ProbeSettings, next_probe, parse_probes

SEOUL = ZoneInfo("Asia/Seoul")
HOURS = BusinessHours("Asia/Seoul", holidays={date(2026, 3, 2)})  # 09-18 Mon-Fri, a holiday
TARGETS = {"민원": "0613390001", "세무": "0613390100"}


def _us(*args: int) -> int:
    moment = datetime(*args, tzinfo=SEOUL)
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // _ONE_US


_ONE_US = datetime(1970, 1, 1, 0, 0, 0, 1) - datetime(1970, 1, 1)


def _local(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1e6, SEOUL)


def _settings(**kw: object) -> ProbeSettings:
    base: dict[str, object] = {"enabled": True, "server": "192.0.2.10", "targets": TARGETS}
    base.update(kw)
    return ProbeSettings(**base)  # type: ignore[arg-type]


def _simulate(start: int, days: int, settings: ProbeSettings, seed: int) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    made: list[tuple[int, str]] = []
    now, end = start, start + days * 86_400_000_000
    while True:
        planned = next_probe(now, made, rng, settings, HOURS)
        assert planned is not None
        if planned.at >= end:
            return made
        assert planned.at >= now
        assert planned.number == TARGETS[planned.department]
        made.append((planned.at, planned.department))
        now = planned.at + 10_000_000  # the call takes 10 s


def test_each_working_day_spends_the_budget_inside_office_hours() -> None:
    made = _simulate(_us(2026, 2, 27, 7, 0), 7, _settings(daily_budget=3), seed=1)
    by_day: dict[date, list[str]] = {}
    for at, dept in made:
        local = _local(at)
        assert time(9) <= local.time() < time(18), local
        by_day.setdefault(local.date(), []).append(dept)
    # Fri 27 Feb, Tue 3 .. Thu 5 Mar: not the weekend, not the holiday on Mon 2 Mar
    assert sorted(by_day) == [date(2026, 2, 27), date(2026, 3, 3), date(2026, 3, 4),
                              date(2026, 3, 5)]  # fmt: skip
    for depts in by_day.values():
        assert sorted(depts) == ["민원"] * 3 + ["세무"] * 3


def test_the_hourly_cap_holds_in_every_rolling_hour() -> None:
    made = _simulate(_us(2026, 3, 3, 8, 0), 3, _settings(daily_budget=20, max_per_hour=3), 7)
    times = sorted(at for at, _ in made)
    assert len(times) > 3 * 9  # the cap, not the budget, limits a day here
    for i, at in enumerate(times):
        assert sum(1 for t in times[i:] if t < at + 3_600_000_000) <= 3


def test_the_same_seed_gives_the_same_plan_and_another_seed_another() -> None:
    start = _us(2026, 3, 3, 8, 0)
    assert _simulate(start, 2, _settings(), 5) == _simulate(start, 2, _settings(), 5)
    assert _simulate(start, 2, _settings(), 5) != _simulate(start, 2, _settings(), 6)


def test_after_closing_the_next_call_is_on_the_next_working_day() -> None:
    planned = next_probe(_us(2026, 2, 27, 18, 0), [], random.Random(0), _settings(), HOURS)
    assert planned is not None and _local(planned.at).date() == date(2026, 3, 3)


def test_the_probes_table_names_only_the_sites_own_departments() -> None:
    numbers = {"민원": ("0613390001", "0613390000"), "총무": ()}
    settings = parse_probes({"enabled": True, "server": "192.0.2.10"}, Path("."), numbers)
    assert settings.targets == {"민원": "0613390001"}
    with pytest.raises(ProbeConfigError) as err:
        parse_probes(
            {"enabled": True, "server": "192.0.2.10", "departments": ["총무", "세무"],
             "max_per_hour": 0, "dial": "0101234"}, Path("."), numbers,
        )  # fmt: skip
    assert sorted(p.split(":")[0] for p in err.value.problems) == [
        "probes.departments",
        "probes.departments[0]", "probes.departments[1]", "probes.dial", "probes.max_per_hour",
    ]  # fmt: skip
    assert not parse_probes({}, Path("."), numbers).enabled  # off by default
    assert settings.missing_after_s == 60.0
    table = {"enabled": True, "server": "192.0.2.10", "missing_after_s": 5}
    with pytest.raises(ProbeConfigError, match=r"missing_after_s: 5\.0 s is not between 15"):
        parse_probes(table, Path("."), numbers)


def test_check_config_reports_probes_mistakes_with_their_lines(tmp_path: Path) -> None:
    site = tmp_path / "site.toml"
    site.write_text(
        '[site]\nname = "x"\ncharter = "naju"\n\n[[departments]]\nname = "민원"\n'
        'extensions = ["2001-2009"]\nnumbers = ["0613390001"]\n\n'
        '[probes]\nenabled = true\nserver = "192.0.2.10"\ntalk_s = 99\n',
        encoding="utf-8",
    )
    problems = check_config(site)
    assert [(p.key, p.line) for p in problems] == [("probes.talk_s", 13)]


def test_values_of_the_wrong_kind_say_what_was_expected() -> None:
    numbers = {"민원": ("0613390001",)}
    with pytest.raises(ProbeConfigError) as err:
        parse_probes(
            {"enabled": "yes", "server": "192.0.2.10", "port": True, "talk_s": "4",
             "prompt": 3, "budget": 2}, Path("."), numbers,
        )  # fmt: skip
    assert sorted(err.value.problems) == [
        "probes.budget: unknown key (did you mean 'daily_budget'?)",
        "probes.enabled: 'yes' is not true or false",
        "probes.port: True is not a whole number",
        "probes.prompt: 3 is not true, false or a WAV path",
        "probes.talk_s: '4' is not a number",
    ]
