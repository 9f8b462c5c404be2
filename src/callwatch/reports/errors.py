"""The reports package's errors."""

from __future__ import annotations


class ReportError(Exception):
    """Base class of every error the reports package raises."""


class WeekError(ReportError, ValueError):
    """Text that is not an ISO week like ``2026-W47`` (or a week that does not exist)."""


class ScheduleError(ReportError, ValueError):
    """A ``[reports]`` table in the site file that cannot be used; ``problems`` lists why."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


class RenderError(ReportError):
    """A report that cannot be rendered (e.g. the PDF engine failed)."""
