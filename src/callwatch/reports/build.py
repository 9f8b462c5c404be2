"""Reports from a store: the queries of :mod:`~callwatch.reports.queries` fed to the pure
functions of :mod:`~callwatch.reports.data`. This is what the API, the pages, the command line
and the scheduled job call.
"""

from __future__ import annotations

from sqlalchemy import Engine

from callwatch.reports import data
from callwatch.reports.errors import ReportError
from callwatch.reports.queries import fetch_period
from callwatch.reports.weeks import IsoWeek, parse_week
from callwatch.site import SiteConfig
from callwatch.store.store import Store


class UnknownDepartment(ReportError, LookupError):
    """A department that is not in the site file."""


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
) -> data.WeeklyReport:
    """The weekly report of ``week`` (``2026-W47``: Monday 00:00 to Monday 00:00 on the site's
    clock), compared with the week before; one department or all (with a site-wide total)."""
    _check_department(site, department)
    week = parse_week(week) if isinstance(week, str) else week
    start, end = week.bounds(site.timezone)
    prior = week.previous()
    facts = fetch_period(
        store, site.name, start, end, department=department, departments=_names(site)
    )
    before = fetch_period(
        store, site.name, *prior.bounds(site.timezone), department=department, details=False
    )
    parts = data.compliance(
        facts, site.profile_for, _scope(site, department), _names_en(site), before
    )
    reports = [
        data.department_report(
            part, facts, site.profile_for(part.department), site.timezone, breach_limit=breach_limit
        )
        for part in parts
    ]
    return data.WeeklyReport(
        site=site.name,
        timezone=site.timezone,
        week=str(week),
        previous_week=str(prior),
        start_us=start,
        end_us=end,
        start_local=data.local_text(start, site.timezone),
        end_local=data.local_text(end, site.timezone),
        departments=reports,
        total=None if department is not None else data.total(parts, start, end),
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


def _scope(site: SiteConfig, department: str | None) -> list[str | None]:
    return [department] if department is not None else list(_names(site))
