"""Weekly and period reports: figures from the store (:mod:`.queries` → :mod:`.data`, wired in
:mod:`.build`), rendered as HTML, PDF and CSV, and the scheduled weekly job (:mod:`.schedule`).

The names below load lazily so that ``callwatch --help`` does not import the database layer.
"""

from __future__ import annotations

import importlib
from typing import Any

from callwatch.reports.errors import RenderError, ReportError, ScheduleError, WeekError
from callwatch.reports.weeks import IsoWeek, parse_week, week_of

_LAZY = {
    "UnknownDepartment": "callwatch.reports.build",
    "achievement_summary": "callwatch.reports.build",
    "compliance": "callwatch.reports.build",
    "weekly_report": "callwatch.reports.build",
    "Achievement": "callwatch.reports.data",
    "Compliance": "callwatch.reports.data",
    "DepartmentReport": "callwatch.reports.data",
    "RuleResult": "callwatch.reports.data",
    "WeeklyReport": "callwatch.reports.data",
    "due_reports": "callwatch.reports.schedule",
    "write_weekly_reports": "callwatch.reports.schedule",
    "ReportSchedule": "callwatch.reports.schedule",
    "load_schedule": "callwatch.reports.schedule",
}

__all__ = [
    "IsoWeek",
    "RenderError",
    "ReportError",
    "ScheduleError",
    "WeekError",
    "parse_week",
    "week_of",
    *_LAZY,
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'callwatch.reports' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
