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

The file is declared as pydantic models (:class:`SiteFile` and its tables): each value goes
through a validator that says what is wrong in words (:mod:`callwatch.validation`), an
unknown key is answered with the key it was probably meant to be. What ties departments
together (a name, number or extension claimed twice) is checked beside the model, on every
department that can be read, so one pass finds it all. :func:`check_config` lists every
mistake at once, each with the file, the line (where the key can be found in the text) and
the key path, in the order of the file; :func:`load_site` raises :class:`ConfigError`
holding the same list, or returns the site as plain data (:class:`~callwatch.site.SiteConfig`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Container, Iterator
from dataclasses import dataclass
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import holidays
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

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
from callwatch.validation import did_you_mean, fail, line_map, line_of, problems, shaped, show

_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)")
_HEADER = re.compile(r"[A-Za-z0-9!#$%&'*+.^_`|~-]+")
_MISSING = {"site": "missing [site] table (name, timezone, charter)"}
"""How the absence of a key is worded where plain ``missing`` would say too little."""


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


# -- the values: each validator fails with the sentence check-config prints -------------------


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(f"must be non-empty text, not {show(value)}")
    return value


def _zone(value: Any) -> str:
    name = _text(value)
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        hint = did_you_mean(name, _zones(), "")
        raise fail(f"unknown time zone {name!r}{f' ({hint})' if hint else ''}") from None
    return name


def _charter(value: Any, info: ValidationInfo) -> str:
    """A charter id among the built-in ones and the site's own profile files (the context's
    ``charters``)."""
    name = _text(value)
    known = (info.context or {}).get("charters", BUILTIN)
    if name in known:
        return name
    hint = did_you_mean(name, list(known), f"known: {', '.join(sorted(known))}")
    raise fail(f"unknown charter {name!r} ({hint}); built-in: {', '.join(BUILTIN)}")


def _pbx(value: Any) -> PbxTraits:
    name = _text(value)
    try:
        return pbx_kinds.traits_for(name)
    except KeyError:
        kinds = sorted(pbx_kinds.KINDS)
        hint = did_you_mean(name.strip().lower(), kinds, f"known: {', '.join(kinds)}")
        raise fail(f"unknown PBX kind {name!r} ({hint})") from None


def _profile_path(value: Any) -> str:
    if not isinstance(value, str):
        raise fail(f"must be a file path, not {show(value)}")
    return value


def _clock(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value):
        hour, minute = (int(part) for part in value.split(":"))
        if hour < 24 and minute < 60:
            return time(hour, minute)
    raise fail(f"{show(value)} is not a time of day like '09:00'")


def _day_list(value: Any) -> Any:
    if not isinstance(value, list) or not value:
        raise fail(f"must be a non-empty list like ['mon', 'fri'], not {value!r}")
    return value


def _day(value: Any) -> int:
    if isinstance(value, str) and value.lower()[:3] in _DAYS:
        return _DAYS.index(value.lower()[:3])
    raise fail(f"{show(value)} is not a day ({', '.join(_DAYS)})")


def _country(value: Any) -> str | None:
    """A country code of the ``holidays`` package; ``false``: no holidays (None)."""
    if value is False:
        return None
    if not isinstance(value, str) or value not in holidays.list_supported_countries():
        raise fail(f"{show(value)} is not a supported country code")
    return value


def _extension(value: Any) -> Extension:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise fail(f"must be text like '2001-2009' or 'reception', not {show(value)}")
    try:
        return parse_extension(value)
    except DirectoryError as exc:
        raise fail("; ".join(exc.problems)) from None


def _number(value: Any) -> str:
    digits = _digits(value)
    if digits is None:
        raise fail(f"{show(value)} is not a phone number (digits, '-', '+82')")
    return digits


def _header(value: Any) -> str:
    if isinstance(value, str) and _HEADER.fullmatch(value):
        return value
    raise fail(f"{show(value)} is not a header name")


Text = Annotated[str, PlainValidator(_text)]
Charter = Annotated[str, PlainValidator(_charter)]

# -- the tables -------------------------------------------------------------------------------


class _Table(BaseModel):
    """A TOML table: only its own keys, read once into immutable values."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, defer_build=True
    )


class BusinessHoursTable(_Table):
    """``[site.business_hours]``: office hours of callback deadlines, and the holidays."""

    start: Annotated[time, PlainValidator(_clock)] = time(9, 0)
    end: Annotated[time, PlainValidator(_clock)] = time(18, 0)
    days: Annotated[
        tuple[Annotated[int, PlainValidator(_day)], ...], BeforeValidator(_day_list)
    ] = (0, 1, 2, 3, 4)
    holidays: Annotated[str | None, PlainValidator(_country)] = "KR"

    def calendar(self) -> Container[date]:
        return _calendar(self.holidays)

    def build(self, timezone: str) -> BusinessHours:
        """The office hours on ``timezone``'s clock (CharterError: they make no sense)."""
        return BusinessHours(timezone, self.start, self.end, frozenset(self.days), self.calendar())


class SiteTable(_Table):
    """``[site]``: the site's name, clock, default charter, PBX and extra charter files."""

    name: Text
    timezone: Annotated[str, PlainValidator(_zone)] = DEFAULT_TIMEZONE
    charter: Charter
    pbx: Annotated[PbxTraits, PlainValidator(_pbx)] = Field(
        default_factory=lambda: pbx_kinds.traits_for(pbx_kinds.DEFAULT)
    )
    profiles: Annotated[
        tuple[Annotated[str, PlainValidator(_profile_path)], ...],
        shaped(list, "must be a list of profile file paths, not {shown}"),
    ] = ()
    business_hours: Annotated[
        BusinessHoursTable | None,
        shaped(dict, "must be a table [site.business_hours], not {shown}"),
    ] = None

    @field_validator("business_hours")
    @classmethod
    def _hours_make_sense(
        cls, value: BusinessHoursTable | None, info: ValidationInfo
    ) -> BusinessHoursTable | None:
        if value is not None:
            try:
                value.build(info.data.get("timezone", DEFAULT_TIMEZONE))
            except CharterError as exc:
                raise fail(str(exc)) from None
        return value


class DepartmentTable(_Table):
    """One ``[[departments]]`` table."""

    name: Text
    name_en: Annotated[str | None, PlainValidator(_text)] = None
    extensions: Annotated[
        tuple[Annotated[Extension, PlainValidator(_extension)], ...],
        shaped(list, "must be a list like ['2001-2009', 'reception', 'test*'], not {shown}"),
    ] = ()
    numbers: Annotated[
        tuple[Annotated[str, PlainValidator(_number)], ...],
        shaped(list, "must be a list like ['0613390000'], not {shown}"),
    ] = ()
    charter: Annotated[str | None, PlainValidator(_charter)] = None

    def department(self) -> Department:
        return Department(self.name, self.name_en, self.extensions, self.numbers, self.charter)

    @model_validator(mode="after")
    def _is_a_department(self) -> DepartmentTable:
        try:
            self.department()
        except DirectoryError as exc:
            raise fail("; ".join(exc.problems)) from None
        return self


class CorrelationTable(_Table):
    """``[correlation]``: extra headers that tie the legs of one call together."""

    headers: Annotated[
        tuple[Annotated[str, PlainValidator(_header)], ...],
        shaped(list, "must be a list of header names, not {shown}"),
    ] = ()


class SiteFile(_Table):
    """A site file. ``[reports]``, ``[service]`` and ``[probes]`` are read by their own
    modules (:mod:`callwatch.reports.schedule`, :mod:`callwatch.settings`,
    :mod:`callwatch.probe.plan`); they are named here so that no other key is taken."""

    site: Annotated[SiteTable, shaped(dict, "must be a table: [site]")]
    departments: Annotated[
        tuple[DepartmentTable, ...], shaped(list, "must be an array of tables: [[departments]]")
    ] = ()
    correlation: Annotated[
        CorrelationTable, shaped(dict, "must be a table [correlation], not {shown}")
    ] = CorrelationTable()
    reports: Any = None
    service: Any = None
    probes: Any = None


# -- reading a file ---------------------------------------------------------------------------


def load_site(path: str | Path) -> SiteConfig:
    """Read and validate a site file; raise :class:`ConfigError` listing every mistake."""
    site, found = _read(Path(path))
    if found or site is None:
        raise ConfigError(found)
    return site


def check_config(path: str | Path) -> list[ConfigProblem]:
    """Every mistake in a site file (an empty list when it is good)."""
    return _read(Path(path))[1]


def _read(path: Path) -> tuple[SiteConfig | None, list[ConfigProblem]]:
    """The site of the file at ``path`` (None when it has mistakes) and its mistakes, in the
    order of the file."""
    where = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return None, [ConfigProblem(where, "", f"cannot read: {exc}")]
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = _TOML_AT.search(str(exc))
        line = int(match.group(1)) if match else None
        return None, [ConfigProblem(where, "", f"not valid TOML: {exc}", line)]
    site, found = _site(data, path)
    lines = line_map(text)
    listed = [ConfigProblem(where, key, message, line_of(lines, key)) for key, message in found]
    # file order; the few without a line (a missing table) last; stable otherwise
    listed.sort(key=lambda p: (p.line is None, p.line or 0))
    return site, listed


def _site(data: dict[str, Any], path: Path) -> tuple[SiteConfig | None, list[tuple[str, str]]]:
    raw_site = data.get("site")
    profiles, paths, found = _site_profiles(raw_site if isinstance(raw_site, dict) else {}, path)
    model: SiteFile | None = None
    try:
        model = SiteFile.model_validate(data, context={"charters": profiles})
    except ValidationError as exc:
        found += problems(exc, SiteFile, _MISSING)
    found += _conflicts(data.get("departments"))
    if "reports" in data:  # [reports]: the weekly report job (callwatch.reports.schedule)
        found += [_split(p) for p in schedule_problems(data["reports"])]
    if "probes" in data:  # [probes]: probe calls (callwatch.probe.plan)
        numbers = None
        if model is not None and not found:
            numbers = {d.name: d.numbers for d in model.departments}
        found += [_split(p) for p in probe_problems(data["probes"], numbers)]
    if found or model is None:
        return None, found
    return _build(model, path, profiles, paths)


def _build(
    model: SiteFile, path: Path, profiles: dict[str, Profile], paths: tuple[str, ...]
) -> tuple[SiteConfig | None, list[tuple[str, str]]]:
    """The checked file as the core's plain data."""
    site = model.site
    try:
        directory = Directory([d.department() for d in model.departments], site.charter)
    except DirectoryError as exc:
        return None, [("departments", problem) for problem in exc.problems]
    hours = site.business_hours
    return SiteConfig(
        path=str(path),
        name=site.name,
        timezone=site.timezone,
        charter=site.charter,
        directory=directory,
        profiles=profiles,
        correlation_headers=model.correlation.headers,
        pbx=site.pbx,
        business_hours=None if hours is None else hours.build(site.timezone),
        holidays=_calendar("KR") if hours is None else hours.calendar(),
        profile_paths=paths,
    ), []


def _split(problem: str) -> tuple[str, str]:
    """``"probes.talk_s: message"`` → ``("probes.talk_s", "message")``."""
    key, _, message = problem.partition(": ")
    return key, message


def _site_profiles(
    site: dict[str, Any], path: Path
) -> tuple[dict[str, Profile], tuple[str, ...], list[tuple[str, str]]]:
    """The charters a site may name: the built-in ones and those of the files its
    ``profiles`` list (relative to the site file); the files that cannot be used as problems.
    Entries that are not text are the model's to report."""
    known = builtin_profiles()
    raw = site.get("profiles", [])
    paths: list[str] = []
    found: list[tuple[str, str]] = []
    for i, entry in enumerate(raw if isinstance(raw, list) else []):
        if not isinstance(entry, str):
            continue
        key = f"site.profiles[{i}]"
        file = Path(entry) if Path(entry).is_absolute() else path.parent / entry
        try:
            profile = load_profile(file)
        except CharterError as exc:
            found.append((key, str(exc)))
            continue
        if profile.id in known:
            found.append((key, f"profile id {profile.id!r} is already taken; give it another id"))
            continue
        known[profile.id] = profile
        paths.append(str(file))
    return known, tuple(paths), found


def _conflicts(raw: Any) -> list[tuple[str, str]]:
    """What two departments claim both: a name, a public number, an extension (overlapping
    ranges or patterns), or a number that is another department's extension. Every entry
    that reads well by itself takes part, even when its neighbours have mistakes (those are
    the model's to report)."""
    found: list[tuple[str, str]] = []
    owners: list[tuple[Extension, str, str]] = []
    numbers: dict[str, tuple[str, str]] = {}
    names: dict[str, str] = {}
    for where, table in _tables(raw):
        name = _readable(_text, table.get("name"))
        if name is not None and name in names:
            found.append((f"{where}.name", f"department {name!r} is already {names[name]}"))
        elif name is not None:
            names[name] = where
        dept = name or where
        for key, rng in _items(_extension, table.get("extensions"), f"{where}.extensions"):
            for other, other_dept, other_key in owners:
                if _overlap(rng, other):
                    message = f"extensions {rng} overlap {other} of {other_dept!r} ({other_key})"
                    found.append((key, message))
            owners.append((rng, dept, key))
        for key, digits in _items(_number, table.get("numbers"), f"{where}.numbers"):
            if digits in numbers:
                holder, holder_key = numbers[digits]
                found.append((key, f"number {digits} is also listed by {holder!r} ({holder_key})"))
            else:
                numbers[digits] = (dept, key)
    for number, (holder, number_key) in numbers.items():
        for rng, dept, key in owners:
            if number in rng and dept != holder:
                found.append((key, f"extension {number} is a number of {holder!r} ({number_key})"))
    return found


def _tables(raw: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    for i, table in enumerate(raw if isinstance(raw, list) else []):
        if isinstance(table, dict):
            yield f"departments[{i}]", table


def _items(check: Any, raw: Any, where: str) -> Iterator[tuple[str, Any]]:
    """The entries of the array ``raw`` that pass ``check``, with their key paths."""
    for j, entry in enumerate(raw if isinstance(raw, list) else []):
        value = _readable(check, entry)
        if value is not None:
            yield f"{where}[{j}]", value


def _readable(check: Any, value: Any) -> Any:
    """``check(value)``, or None when the value has a mistake (the model reports it)."""
    try:
        return check(value)
    except PydanticCustomError:
        return None


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


_zone_cache: list[str] = []


def _zones() -> list[str]:
    if not _zone_cache:
        _zone_cache.extend(sorted(available_timezones()))
    return _zone_cache
