"""The scheduled weekly job: each finished week's reports written to a folder.

Site file::

    [reports]
    weekday = "mon"                  # the day after the week ends when reports are due
    hour = 7                         # local hour (site time zone), 0-23
    folder = "reports"               # relative to the site file
    formats = ["html", "pdf", "csv"] # optional (default: all three)
    lang = "ko"                      # optional: "ko" or "en"

The report of week W falls due at the first ``weekday`` ``hour``:00 on the site's clock after
W ends (``mon``/7: Monday 07:00 of the next week). :func:`due_reports` is pure: given the time
of the last run and now it names the weeks that fell due in between, oldest first; the caller
(the service loop) keeps ``last_run`` and calls :func:`write_weekly_reports` for each.
A first run (``last_run`` None) writes only the latest week, and a long outage catches up at
most :data:`MAX_BACKLOG` weeks.

The table is checked by a pydantic model (:class:`ReportsTable`), as the site file's other
tables are (:mod:`callwatch.validation`): an unknown key names the one it was probably meant
to be, and every mistake is listed at once.

The report builders and renderers are imported inside :func:`write_weekly_reports`:
:mod:`callwatch.config` imports this module to check a site file's ``[reports]``
table, which must not load the database layer or WeasyPrint.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError

from callwatch.reports.errors import ScheduleError
from callwatch.reports.weeks import IsoWeek, local_time, week_of
from callwatch.validation import fail
from callwatch.validation import problems as _problems

if TYPE_CHECKING:
    from callwatch.site import SiteConfig
    from callwatch.store.store import Store

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
FORMATS = ("html", "pdf", "csv")
MAX_BACKLOG = 12


def _weekday(value: Any) -> int:
    if isinstance(value, str) and value.strip().lower()[:3] in WEEKDAYS:
        return WEEKDAYS.index(value.strip().lower()[:3])
    raise fail(f"{value!r} is not a day ({', '.join(WEEKDAYS)})")


def _hour(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
        raise fail(f"{value!r} is not an hour 0-23")
    return value


def _folder(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{value!r} is not a folder path")
    return value


def _formats(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or any(f not in FORMATS for f in value):
        raise fail(f"{value!r}: expected a list of {', '.join(FORMATS)}")
    return tuple(dict.fromkeys(value))


def _lang(value: Any) -> str:
    if value not in ("ko", "en"):
        raise fail(f"{value!r}: expected 'ko' or 'en'")
    return str(value)


class ReportsTable(BaseModel):
    """The ``[reports]`` table as the file gives it (``weekday`` read as 0 for Monday)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    weekday: Annotated[int, PlainValidator(_weekday)] = 0
    hour: Annotated[int, PlainValidator(_hour)] = 7
    folder: Annotated[str, PlainValidator(_folder)] = "reports"
    formats: Annotated[tuple[str, ...], PlainValidator(_formats)] = FORMATS
    lang: Annotated[str, PlainValidator(_lang)] = "ko"


KEYS = tuple(ReportsTable.model_fields)
"""The keys a ``[reports]`` table may hold."""


@dataclass(frozen=True, slots=True)
class ReportSchedule:
    """When and where weekly reports are written."""

    weekday: int
    hour: int
    folder: Path
    timezone: str = "Asia/Seoul"
    formats: tuple[str, ...] = FORMATS
    lang: str = "ko"

    def due_at(self, week: IsoWeek) -> int:
        """Capture µs at which ``week``'s report falls due."""
        day = week.monday + timedelta(days=7 + self.weekday)
        return local_time(day, self.hour, self.timezone)


def schedule_problems(table: Any) -> list[str]:
    """Every mistake in a ``[reports]`` table (an empty list when it is good)."""
    problems: list[str] = []
    _parse(table, Path("."), "Asia/Seoul", problems)
    return problems


def parse_schedule(table: Any, base: Path, timezone: str = "Asia/Seoul") -> ReportSchedule:
    """The schedule of a ``[reports]`` table; ``folder`` is taken relative to ``base``.
    Raises :class:`ScheduleError` listing every mistake."""
    problems: list[str] = []
    schedule = _parse(table, base, timezone, problems)
    if problems or schedule is None:
        raise ScheduleError(problems)
    return schedule


def load_schedule(site_file: str | Path, timezone: str = "Asia/Seoul") -> ReportSchedule | None:
    """The ``[reports]`` table of a site file (None when it has none)."""
    path = Path(site_file)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScheduleError([f"{path}: cannot read: {exc}"]) from exc
    if "reports" not in data:
        return None
    return parse_schedule(data["reports"], path.parent, timezone)


def due_reports(last_run: int | None, now: int, schedule: ReportSchedule) -> list[IsoWeek]:
    """The weeks whose reports fell due in ``(last_run, now]`` (capture µs), oldest first."""
    week = week_of(now, schedule.timezone).previous()
    while schedule.due_at(week) > now:
        week = week.previous()
    due: list[IsoWeek] = []
    while len(due) < MAX_BACKLOG and (last_run is None or schedule.due_at(week) > last_run):
        due.append(week)
        if last_run is None:
            break
        week = week.previous()
    return sorted(due)


def write_weekly_reports(
    store: Store,
    site: SiteConfig,
    week: IsoWeek | str,
    folder: str | Path,
    *,
    formats: tuple[str, ...] = FORMATS,
    lang: str = "ko",
) -> list[Path]:
    """Write ``week``'s report of every department (and the public achievement summary) into
    ``folder/<week>/``; return the files written. Each file appears whole or not at all."""
    from callwatch.reports.build import achievement_summary, weekly_report
    from callwatch.reports.render_csv import (
        achievement_csv,
        extensions_csv,
        probes_csv,
        rules_csv,
    )
    from callwatch.reports.render_html import render_achievement_html, render_html
    from callwatch.reports.render_pdf import render_pdf

    report = weekly_report(store, site, week)
    target = Path(folder) / report.week
    target.mkdir(parents=True, exist_ok=True)
    stem = f"callwatch-{report.week}"
    written = []
    if "html" in formats:
        written.append(_write(target / f"{stem}.html", render_html(report, lang).encode()))
    if "pdf" in formats:
        written.append(_write(target / f"{stem}.pdf", render_pdf(report, lang)))
    if "csv" in formats:
        written.append(_write(target / f"{stem}-rules.csv", rules_csv(report, lang).encode()))
        ext = extensions_csv(report, lang).encode()
        written.append(_write(target / f"{stem}-extensions.csv", ext))
        if report.probes:
            probes = probes_csv(report, lang).encode()
            written.append(_write(target / f"{stem}-probes.csv", probes))
    public = achievement_summary(report)
    page = render_achievement_html(public, lang).encode()
    written.append(_write(target / f"achievement-{report.week}.html", page))
    if "csv" in formats:
        rows = achievement_csv(public, lang).encode()
        written.append(_write(target / f"achievement-{report.week}.csv", rows))
    return written


def _write(path: Path, content: bytes) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(content)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _parse(table: Any, base: Path, timezone: str, problems: list[str]) -> ReportSchedule | None:
    if not isinstance(table, Mapping):
        problems.append("reports: must be a table [reports]")
        return None
    model: ReportsTable | None = None
    try:
        model = ReportsTable.model_validate(dict(table))
    except ValidationError as exc:
        found = _problems(exc, ReportsTable, None, ("reports",))
        problems += [f"{key}: {message}" for key, message in found]
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(f"unknown time zone {timezone!r}")
    if problems or model is None:
        return None
    path = Path(model.folder)
    return ReportSchedule(
        weekday=model.weekday,
        hour=model.hour,
        folder=path if path.is_absolute() else base / path,
        timezone=timezone,
        formats=model.formats,
        lang=model.lang,
    )
