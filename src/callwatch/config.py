"""The site file: one TOML file naming the site, its departments and their charters.

::

    [site]
    name = "naju-cityhall"
    timezone = "Asia/Seoul"              # default Asia/Seoul
    charter = "naju"                     # default charter of every department
    pbx = "asterisk"                     # default; also freepbx, proxy (kamailio, opensips)
    profiles = ["my-charter.toml"]       # optional: extra profile files, relative to this file
    [site.business_hours]                # optional: callback deadlines run on office hours
    start = "09:00"
    end = "18:00"
    days = ["mon", "tue", "wed", "thu", "fri"]
    holidays = "KR"                      # a country code of the holidays package, or false

    [[departments]]
    name = "민원"
    name_en = "Civil Affairs"
    extensions = ["2001-2009", "2100", "reception", "desk*"]   # numbers, names, patterns
    numbers = ["0613390000", "2000"]
    charter = "mokpo"                    # optional override

    [correlation]
    headers = ["X-CID", "X-Asterisk-Linkedid"]   # added to the PBX kind's own header names

:func:`check_config` lists every mistake at once, each with the file, the line (where the
key can be found in the text) and the key path; :func:`load_site` raises
:class:`ConfigError` holding the same list.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Container
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from callwatch import pbx as pbx_kinds
from callwatch.calls.directory import (
    Department,
    Directory,
    Extension,
    ExtensionPattern,
    ExtensionRange,
    parse_extension,
)
from callwatch.calls.errors import DirectoryError
from callwatch.calls.pbx_traits import PbxTraits
from callwatch.charter.errors import CharterError
from callwatch.charter.hours import BusinessHours
from callwatch.charter.profile import Profile
from callwatch.probe.plan import probe_problems
from callwatch.profile_files import BUILTIN, builtin_profiles, load_profile
from callwatch.reports.schedule import schedule_problems
from callwatch.site import DEFAULT_TIMEZONE, SiteConfig

_KEYS: dict[str, tuple[str, ...]] = {
    "": ("site", "departments", "correlation", "reports", "service", "probes"),
    "site": ("name", "timezone", "charter", "pbx", "profiles", "business_hours"),
    "site.business_hours": ("start", "end", "days", "holidays"),
    "departments": ("name", "name_en", "extensions", "numbers", "charter"),
    "correlation": ("headers",),
}
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_PARENT = re.compile(r"(\.[^.\[\]]*|\[\d+\])$")
_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One mistake in a site file: where it is and what is wrong."""

    path: str
    key: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"


class ConfigError(Exception):
    """A site file that cannot be used; ``problems`` lists every mistake found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


def load_site(path: str | Path) -> SiteConfig:
    """Read and validate a site file; raise :class:`ConfigError` listing every mistake."""
    checker = _Checker(Path(path))
    site = checker.run()
    if checker.problems or site is None:
        raise ConfigError(checker.problems)
    return site


def check_config(path: str | Path) -> list[ConfigProblem]:
    """Every mistake in a site file (an empty list when it is good)."""
    checker = _Checker(Path(path))
    checker.run()
    return checker.problems


def _line_map(text: str) -> dict[str, int]:
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


class _Checker:
    """Walks a parsed site file once, collecting every problem, and builds the SiteConfig."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.problems: list[ConfigProblem] = []
        self.lines: dict[str, int] = {}

    def add(self, key: str, message: str) -> None:
        line = None
        probe = key
        while probe:  # the key itself, else the nearest enclosing key written in the file
            if probe in self.lines:
                line = self.lines[probe]
                break
            shorter = _PARENT.sub("", probe)
            probe = "" if shorter == probe else shorter
        self.problems.append(ConfigProblem(str(self.path), key, message, line))

    def run(self) -> SiteConfig | None:
        try:
            text = self.path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            self.problems.append(ConfigProblem(str(self.path), "", f"cannot read: {exc}"))
            return None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            match = _TOML_AT.search(str(exc))
            line = int(match.group(1)) if match else None
            self.problems.append(ConfigProblem(str(self.path), "", f"not valid TOML: {exc}", line))
            return None
        self.lines = _line_map(text)
        return self.site(data)

    def site(self, data: dict[str, Any]) -> SiteConfig | None:
        self.unknown_keys(data, "", "")
        site = data.get("site")
        if site is None:
            self.add("site", "missing [site] table (name, timezone, charter)")
            site = {}
        elif not isinstance(site, dict):
            self.add("site", "must be a table: [site]")
            site = {}
        self.unknown_keys(site, "site", "site")
        present = bool(site)  # a missing [site] is one problem, not one per key
        name = self.text(site, "site.name", required=present)
        timezone = self.text(site, "site.timezone") or DEFAULT_TIMEZONE
        if "timezone" in site and isinstance(site["timezone"], str):
            try:
                ZoneInfo(timezone)
            except (ZoneInfoNotFoundError, ValueError):
                near = difflib.get_close_matches(timezone, _zones(), n=1)
                hint = f" (did you mean {near[0]!r}?)" if near else ""
                self.add("site.timezone", f"unknown time zone {timezone!r}{hint}")
                timezone = DEFAULT_TIMEZONE
        profiles, paths = self.profiles(site)
        charter = self.charter(site, "site.charter", profiles, required=present)
        hours, calendar = self.business_hours(site, timezone)
        directory = self.departments(data.get("departments", []), profiles, charter)
        headers = self.correlation(data.get("correlation", {}))
        pbx = self.pbx(site)
        if "reports" in data:  # [reports]: the weekly report job (callwatch.reports.schedule)
            for problem in schedule_problems(data["reports"]):
                key, _, message = problem.partition(": ")
                self.add(key, message)
        if "probes" in data:  # [probes]: probe calls (callwatch.probe.plan)
            numbers = (
                None if directory is None else {d.name: d.numbers for d in directory.departments}
            )
            for problem in probe_problems(data["probes"], numbers):
                key, _, message = problem.partition(": ")
                self.add(key, message)
        if self.problems or directory is None or name is None or charter is None:
            return None
        return SiteConfig(
            path=str(self.path),
            name=name,
            timezone=timezone,
            charter=charter,
            directory=directory,
            profiles=profiles,
            correlation_headers=headers,
            pbx=pbx,
            business_hours=hours,
            holidays=calendar,
            profile_paths=paths,
        )

    def unknown_keys(self, table: Any, schema: str, where: str) -> None:
        if not isinstance(table, dict):
            return
        allowed = _KEYS[schema]
        for key in table:
            if key in allowed:
                continue
            near = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
            hint = f"did you mean {near[0]!r}?" if near else f"expected one of {', '.join(allowed)}"
            self.add(f"{where}.{key}" if where else key, f"unknown key ({hint})")

    def text(self, table: dict[str, Any], key: str, required: bool = False) -> str | None:
        leaf = key.rsplit(".", 1)[-1]
        if leaf not in table:
            if required:
                self.add(key, "missing")
            return None
        value = table[leaf]
        if not isinstance(value, str) or not value.strip():
            self.add(key, f"must be non-empty text, not {_show(value)}")
            return None
        return value

    def pbx(self, site: dict[str, Any]) -> PbxTraits | None:
        """The PBX kind of ``[site] pbx`` (default ``asterisk``); None when it is unknown."""
        if "pbx" not in site:
            return pbx_kinds.traits_for(pbx_kinds.DEFAULT)
        name = self.text(site, "site.pbx")
        if name is None:
            return None
        try:
            return pbx_kinds.traits_for(name)
        except KeyError:
            kinds = sorted(pbx_kinds.KINDS)
            near = difflib.get_close_matches(name.strip().lower(), kinds, n=1)
            hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(kinds)}"
            self.add("site.pbx", f"unknown PBX kind {name!r} ({hint})")
            return None

    def profiles(self, site: dict[str, Any]) -> tuple[dict[str, Profile], tuple[str, ...]]:
        known = builtin_profiles()
        raw = site.get("profiles", [])
        if not isinstance(raw, list):
            self.add("site.profiles", f"must be a list of profile file paths, not {_show(raw)}")
            return known, ()
        paths = []
        for i, entry in enumerate(raw):
            key = f"site.profiles[{i}]"
            if not isinstance(entry, str):
                self.add(key, f"must be a file path, not {_show(entry)}")
                continue
            file = Path(entry) if Path(entry).is_absolute() else self.path.parent / entry
            try:
                profile = load_profile(file)
            except CharterError as exc:
                self.add(key, str(exc))
                continue
            if profile.id in known:
                self.add(key, f"profile id {profile.id!r} is already taken; give it another id")
                continue
            known[profile.id] = profile
            paths.append(str(file))
        return known, tuple(paths)

    def charter(
        self, table: dict[str, Any], key: str, profiles: dict[str, Profile], required: bool
    ) -> str | None:
        name = self.text(table, key, required=required)
        if name is None or name in profiles:
            return name
        near = difflib.get_close_matches(name, list(profiles), n=1)
        hint = f"did you mean {near[0]!r}?" if near else f"known: {', '.join(sorted(profiles))}"
        self.add(key, f"unknown charter {name!r} ({hint}); built-in: {', '.join(BUILTIN)}")
        return None

    def business_hours(
        self, site: dict[str, Any], timezone: str
    ) -> tuple[BusinessHours | None, Container[date]]:
        """The site's office hours (None when it sets none) and its holiday calendar
        (``holidays``, default the Korean public holidays)."""
        raw = site.get("business_hours")
        if raw is None:
            return None, _calendar("KR")
        key = "site.business_hours"
        if not isinstance(raw, dict):
            self.add(key, f"must be a table [site.business_hours], not {_show(raw)}")
            return None, frozenset()
        self.unknown_keys(raw, key, key)
        start = self.clock(raw, f"{key}.start", time(9, 0))
        end = self.clock(raw, f"{key}.end", time(18, 0))
        days = raw.get("days", list(_DAYS[:5]))
        weekdays: set[int] = set()
        if not isinstance(days, list) or not days:
            self.add(f"{key}.days", f"must be a non-empty list like ['mon', 'fri'], not {days!r}")
        else:
            for i, day in enumerate(days):
                if isinstance(day, str) and day.lower()[:3] in _DAYS:
                    weekdays.add(_DAYS.index(day.lower()[:3]))
                else:
                    self.add(f"{key}.days[{i}]", f"{_show(day)} is not a day ({', '.join(_DAYS)})")
        country = raw.get("holidays", "KR")
        if country is False:
            country = None
        elif not isinstance(country, str) or country not in holidays.list_supported_countries():
            self.add(f"{key}.holidays", f"{_show(country)} is not a supported country code")
            country = None
        calendar = _calendar(country)
        if start is None or end is None or not weekdays:
            return None, calendar
        try:
            return BusinessHours(timezone, start, end, frozenset(weekdays), calendar), calendar
        except CharterError as exc:
            self.add(key, str(exc))
            return None, calendar

    def clock(self, table: dict[str, Any], key: str, default: time) -> time | None:
        leaf = key.rsplit(".", 1)[-1]
        value = table.get(leaf)
        if value is None:
            return default
        if isinstance(value, time):
            return value
        if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value):
            hour, minute = (int(part) for part in value.split(":"))
            if hour < 24 and minute < 60:
                return time(hour, minute)
        self.add(key, f"{_show(value)} is not a time of day like '09:00'")
        return None

    def departments(
        self, raw: Any, profiles: dict[str, Profile], default: str | None
    ) -> Directory | None:
        if not isinstance(raw, list):
            self.add("departments", "must be an array of tables: [[departments]]")
            return None
        built: list[Department] = []
        owners: list[tuple[Extension, str, str]] = []
        numbers: dict[str, tuple[str, str]] = {}
        names: dict[str, str] = {}
        for i, table in enumerate(raw):
            where = f"departments[{i}]"
            if not isinstance(table, dict):
                self.add(where, "must be a table")
                continue
            self.unknown_keys(table, "departments", where)
            name = self.text(table, f"{where}.name", required=True)
            if name is not None and name in names:
                self.add(f"{where}.name", f"department {name!r} is already {names[name]}")
            elif name is not None:
                names[name] = where
            name_en = self.text(table, f"{where}.name_en")
            charter = self.charter(table, f"{where}.charter", profiles, required=False)
            ranges = self.extensions(table, where, name or where, owners)
            nums = self.numbers(table, where, name or where, numbers)
            if name is not None:
                try:
                    built.append(Department(name, name_en, tuple(ranges), tuple(nums), charter))
                except DirectoryError as exc:
                    for problem in exc.problems:
                        self.add(where, problem)
        for number, (holder, number_key) in numbers.items():
            for rng, dept, key in owners:
                if number in rng and dept != holder:
                    self.add(key, f"extension {number} is a number of {holder!r} ({number_key})")
        if self.problems:
            return None
        try:
            return Directory(built, default)
        except DirectoryError as exc:
            for problem in exc.problems:
                self.add("departments", problem)
            return None

    def extensions(
        self,
        table: dict[str, Any],
        where: str,
        dept: str,
        owners: list[tuple[Extension, str, str]],
    ) -> list[Extension]:
        raw = table.get("extensions", [])
        if not isinstance(raw, list):
            self.add(
                f"{where}.extensions",
                f"must be a list like ['2001-2009', 'reception', 'test*'], not {_show(raw)}",
            )
            return []
        ranges = []
        for j, spec in enumerate(raw):
            key = f"{where}.extensions[{j}]"
            if isinstance(spec, bool) or not isinstance(spec, str | int):
                self.add(key, f"must be text like '2001-2009' or 'reception', not {_show(spec)}")
                continue
            try:
                rng = parse_extension(spec)
            except DirectoryError as exc:
                self.add(key, "; ".join(exc.problems))
                continue
            for other, other_dept, other_key in owners:
                if _overlap(rng, other):
                    self.add(
                        key,
                        f"extensions {rng} overlap {other} of {other_dept!r} ({other_key})",
                    )
            owners.append((rng, dept, key))
            ranges.append(rng)
        return ranges

    def numbers(
        self, table: dict[str, Any], where: str, dept: str, seen: dict[str, tuple[str, str]]
    ) -> list[str]:
        raw = table.get("numbers", [])
        if not isinstance(raw, list):
            self.add(f"{where}.numbers", f"must be a list like ['0613390000'], not {_show(raw)}")
            return []
        numbers = []
        for j, entry in enumerate(raw):
            key = f"{where}.numbers[{j}]"
            digits = _digits(entry)
            if digits is None:
                self.add(key, f"{_show(entry)} is not a phone number (digits, '-', '+82')")
                continue
            if digits in seen:
                holder, holder_key = seen[digits]
                self.add(key, f"number {digits} is also listed by {holder!r} ({holder_key})")
                continue
            seen[digits] = (dept, key)
            numbers.append(digits)
        return numbers

    def correlation(self, raw: Any) -> tuple[str, ...]:
        if not isinstance(raw, dict):
            self.add("correlation", f"must be a table [correlation], not {_show(raw)}")
            return ()
        self.unknown_keys(raw, "correlation", "correlation")
        headers = raw.get("headers", [])
        if not isinstance(headers, list):
            self.add("correlation.headers", f"must be a list of header names, not {_show(headers)}")
            return ()
        good = []
        for i, header in enumerate(headers):
            if isinstance(header, str) and re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+", header):
                good.append(header)
            else:
                self.add(f"correlation.headers[{i}]", f"{_show(header)} is not a header name")
        return tuple(good)


def _calendar(country: str | None) -> Container[date]:
    """The public holidays of ``country`` (a ``holidays`` package code; None: no holidays)."""
    return frozenset() if country is None else holidays.country_holidays(country)


def _overlap(one: Extension, other: Extension) -> bool:
    """True when some phone is known to match both entries (see ExtensionPattern.overlaps)."""
    if isinstance(one, ExtensionRange) and isinstance(other, ExtensionRange):
        return one.overlaps(other)
    if isinstance(one, ExtensionPattern):
        return one.overlaps(other)
    assert isinstance(other, ExtensionPattern)
    return other.overlaps(one)


def _digits(entry: Any) -> str | None:
    if isinstance(entry, bool) or not isinstance(entry, str | int):
        return None
    text = str(entry).strip()
    for sep in "-. ()":
        text = text.replace(sep, "")
    if text.startswith("+82"):
        rest = text[3:]
        text = rest if rest.startswith("0") else "0" + rest
    return text if text.isdigit() and text.isascii() else None


def _show(value: Any) -> str:
    kind = type(value).__name__
    return f"{value!r} ({kind})"


_zone_cache: list[str] = []


def _zones() -> list[str]:
    if not _zone_cache:
        from zoneinfo import available_timezones

        _zone_cache.extend(sorted(available_timezones()))
    return _zone_cache
