"""Reports from a store: the queries of :mod:`~callwatch.reports.queries` fed to the pure
functions of :mod:`~callwatch.reports.data`. This is what the API, the pages, the command line
and the scheduled job call.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Engine

from callwatch.reports import data
from callwatch.reports.errors import ReportError
from callwatch.reports.queries import fetch_period, fetch_probes
from callwatch.reports.weeks import IsoWeek, local_time, parse_week
from callwatch.site import SiteConfig
from callwatch.store.store import Store


class UnknownDepartment(ReportError, LookupError):
    """A department that is not in the site file."""


class RangeError(ReportError, ValueError):
    """A date range a report cannot cover."""


def compliance(
    store: Store | Engine,
    site: SiteConfig,
    start_us: int,
    end_us: int,
    *,
    department: str | None = None,
    previous: tuple[int, int] | None = None,
) -> list[data.Compliance]:
    """Compliance per department and rule over ``[start_us, end_us)`` (capture µs, UTC), for
    every department of the site (and any other found in the calls) or only ``department``.
    ``previous`` (``[start, end)``) adds the earlier period's rates for comparison."""
    _check_department(site, department)
    facts = fetch_period(
        store,
        site.name,
        start_us,
        end_us,
        department=department,
        departments=_names(site),
        details=True,
    )
    before = None
    if previous is not None:
        before = fetch_period(store, site.name, *previous, department=department, details=False)
    return data.compliance(
        facts, site.profile_for, _scope(site, department), _names_en(site), before
    )


def weekly_report(
    store: Store | Engine,
    site: SiteConfig,
    week: IsoWeek | str,
    *,
    department: str | None = None,
    breach_limit: int | None = 500,
    now: int | None = None,
) -> data.WeeklyReport:
    """The weekly report of ``week`` (``2026-W47``: Monday 00:00 to Monday 00:00 on the site's
    clock), compared with the week before; one department or all (with a site-wide total).
    ``now`` (capture µs) marks the report partial when the week is not over by then."""
    week = parse_week(week) if isinstance(week, str) else week
    prior = week.previous()
    return _report(
        store,
        site,
        week.bounds(site.timezone),
        prior.bounds(site.timezone),
        (str(week), str(prior), "week"),
        department=department,
        breach_limit=breach_limit,
        now=now,
    )


MAX_RANGE_DAYS = 366
"""The longest date range a report covers."""


def range_report(
    store: Store | Engine,
    site: SiteConfig,
    first: date,
    last: date,
    *,
    department: str | None = None,
    breach_limit: int | None = 500,
    now: int | None = None,
) -> data.WeeklyReport:
    """The report of the local days ``first`` to ``last`` (both included, 00:00 of ``first``
    to 00:00 after ``last`` on the site's clock), compared with as many days just before;
    ``week`` is the ISO 8601 interval ``2026-11-02/2026-11-20``. Raises :class:`RangeError`
    for a range that ends before it starts or is longer than :data:`MAX_RANGE_DAYS` days."""
    days = (last - first).days + 1
    if days < 1:
        raise RangeError(f"the range ends ({last}) before it starts ({first})")
    if days > MAX_RANGE_DAYS:
        raise RangeError(f"{days} days is longer than a report covers ({MAX_RANGE_DAYS} days)")
    if first.year < 1971 or last.year > 9998:
        raise RangeError(f"{first}/{last} is out of range (1971 to 9998)")
    before_first, before_last = first - timedelta(days=days), first - timedelta(days=1)
    zone = site.timezone
    return _report(
        store,
        site,
        (local_time(first, 0, zone), local_time(last + timedelta(days=1), 0, zone)),
        (local_time(before_first, 0, zone), local_time(first, 0, zone)),
        (f"{first}/{last}", f"{before_first}/{before_last}", "range"),
        department=department,
        breach_limit=breach_limit,
        now=now,
    )


def _report(
    store: Store | Engine,
    site: SiteConfig,
    bounds: tuple[int, int],
    prior: tuple[int, int],
    labels: tuple[str, str, str],
    *,
    department: str | None,
    breach_limit: int | None,
    now: int | None,
) -> data.WeeklyReport:
    _check_department(site, department)
    start, end = bounds
    facts = fetch_period(
        store, site.name, start, end, department=department, departments=_names(site)
    )
    before = fetch_period(store, site.name, *prior, department=department, details=False)
    parts = data.compliance(
        facts, site.profile_for, _scope(site, department), _names_en(site), before
    )
    reports = [
        data.department_report(
            part, facts, site.profile_for(part.department), site.timezone, breach_limit=breach_limit
        )
        for part in parts
    ]
    probes = fetch_probes(store, site.name, start, end, department=department)
    label, prior_label, kind = labels
    return data.WeeklyReport(
        site=site.name,
        timezone=site.timezone,
        week=label,
        previous_week=prior_label,
        start_us=start,
        end_us=end,
        start_local=data.local_text(start, site.timezone),
        end_local=data.local_text(end, site.timezone),
        departments=reports,
        total=None if department is not None else data.total(parts, start, end),
        kind=kind,
        partial=now is not None and now < end,
        probes=data.probe_summaries(
            probes, site.profile_for, _scope_names(site, department), _names_en(site)
        ),
    )


def achievement_summary(report: data.WeeklyReport) -> data.Achievement:
    """The public 이행기준 달성도 of a weekly report (rates and promises only)."""
    return data.achievement(
        report.site,
        report.week,
        report.start_local,
        report.end_local,
        [d.compliance for d in report.departments],
    )


def _check_department(site: SiteConfig, department: str | None) -> None:
    if department is not None and department not in _names(site):
        known = ", ".join(_names(site)) or "none"
        raise UnknownDepartment(f"unknown department {department!r} (site has: {known})")


def _names(site: SiteConfig) -> list[str]:
    return [d.name for d in site.directory.departments]


def _names_en(site: SiteConfig) -> dict[str, str | None]:
    return {d.name: d.name_en for d in site.directory.departments}


def _scope_names(site: SiteConfig, department: str | None) -> list[str]:
    return [department] if department is not None else _names(site)


def _scope(site: SiteConfig, department: str | None) -> list[str | None]:
    return [department] if department is not None else list(_names(site))
