"""Housekeeping the live service does on the wall clock: purge old SIP, write weekly reports.

Both jobs are adapters (they read the wall clock and write files and rows), kept apart from
the core. :class:`Maintenance.run_once` does one pass for a given time so tests drive it
without waiting; the service runs it every few minutes in the store's worker thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from callwatch.reports.schedule import (
    ReportSchedule,
    ScheduleError,
    due_reports,
    load_schedule,
    write_weekly_reports,
)
from callwatch.site import SiteConfig
from callwatch.store import Store

log = logging.getLogger(__name__)

_DAY_US = 86_400 * 1_000_000


@dataclass(slots=True)
class MaintenanceStats:
    """What the jobs have done since start."""

    purged_messages: int = 0
    reports_written: int = 0
    failures: int = 0
    last_run: int | None = None
    weeks: list[str] = field(default_factory=list)


class Maintenance:
    """Purges raw SIP older than the retention and writes weekly reports when they fall due.

    ``state_file`` remembers when reports were last written, so a restart neither repeats
    nor skips a week (``due_reports`` catches up a bounded backlog).
    """

    def __init__(
        self,
        store: Store,
        site: SiteConfig,
        *,
        retention_days: int,
        state_file: Path,
        schedule: ReportSchedule | None = None,
    ) -> None:
        self.store = store
        self.site = site
        self.retention_days = retention_days
        self.state_file = state_file
        self.schedule = schedule
        self.stats = MaintenanceStats()

    @classmethod
    def for_site(
        cls, store: Store, site: SiteConfig, *, retention_days: int, data_dir: Path
    ) -> Maintenance:
        """Read the site file's ``[reports]`` schedule (a broken one is logged, not fatal)."""
        schedule = None
        try:
            schedule = load_schedule(site.path, site.timezone)
        except ScheduleError as exc:
            log.error("weekly reports are off: %s", exc)
        return cls(
            store,
            site,
            retention_days=retention_days,
            state_file=data_dir / "reports-last-run",
            schedule=schedule,
        )

    def run_once(self, now: int) -> None:
        """One pass of both jobs at wall-clock time ``now`` (µs since the epoch)."""
        self.stats.last_run = now
        if self.retention_days:
            try:
                purged = self.store.purge_messages(now - self.retention_days * _DAY_US)
                self.stats.purged_messages += purged
                if purged:
                    log.info(
                        "purged %d SIP messages older than %d days", purged, self.retention_days
                    )
            except Exception as exc:  # the database may be away; the next pass tries again
                self._failed("purge", exc)
        if self.schedule is not None:
            self._reports(now)

    def _reports(self, now: int) -> None:
        schedule = self.schedule
        assert schedule is not None
        for week in due_reports(self._last_reports(), now, schedule):
            try:
                paths = write_weekly_reports(
                    self.store,
                    self.site,
                    week,
                    schedule.folder,
                    formats=schedule.formats,
                    lang=schedule.lang,
                )
            except Exception as exc:
                self._failed(f"weekly report {week}", exc)
                return  # keep the mark: the week is tried again next pass
            self.stats.reports_written += len(paths)
            self.stats.weeks.append(str(week))
            log.info("weekly reports for %s written to %s", week, schedule.folder)
            self._save_last_reports(schedule.due_at(week))

    def _last_reports(self) -> int | None:
        try:
            return int(self.state_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def _save_last_reports(self, at: int) -> None:
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(f"{at}\n")
        tmp.replace(self.state_file)

    def _failed(self, job: str, exc: Exception) -> None:
        self.stats.failures += 1
        log.warning("maintenance: %s failed: %s", job, exc)
