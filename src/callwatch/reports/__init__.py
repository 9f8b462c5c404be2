"""Weekly and period reports: figures from the store (:mod:`.data`, :mod:`.queries`,
:mod:`.build`), rendered as HTML, PDF and CSV, and the scheduled weekly job
(:mod:`.schedule`)."""

from callwatch.reports.build import (
    UnknownDepartment,
    achievement_summary,
    compliance,
    weekly_report,
)
from callwatch.reports.data import (
    Achievement,
    Compliance,
    DepartmentReport,
    RuleResult,
    WeeklyReport,
)
from callwatch.reports.errors import RenderError, ReportError, ScheduleError, WeekError
from callwatch.reports.weeks import IsoWeek, parse_week, week_of

__all__ = [
    "Achievement",
    "Compliance",
    "DepartmentReport",
    "IsoWeek",
    "RenderError",
    "ReportError",
    "RuleResult",
    "ScheduleError",
    "UnknownDepartment",
    "WeekError",
    "WeeklyReport",
    "achievement_summary",
    "compliance",
    "parse_week",
    "week_of",
    "weekly_report",
]
