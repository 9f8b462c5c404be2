"""The scheduled weekly job: when reports fall due, the [reports] table, writing a week."""

from __future__ import annotations

from pathlib import Path

import pytest

import test_store_fixtures as fx
from callwatch.config import check_config, load_site
from callwatch.reports.errors import ScheduleError
from callwatch.reports.schedule import (
    MAX_BACKLOG,
    ReportSchedule,
    due_reports,
    load_schedule,
    parse_schedule,
    write_weekly_reports,
)
from callwatch.reports.weeks import IsoWeek
from callwatch.store import Store
from callwatch.timefmt import parse_iso

MON7 = ReportSchedule(weekday=0, hour=7, folder=Path("reports"), timezone="Asia/Seoul")


def at(text: str) -> int:
    return parse_iso(text)


def test_due_at_is_the_first_weekday_hour_after_the_week() -> None:
    assert MON7.due_at(IsoWeek(2026, 47)) == at("2026-11-23T07:00:00+09:00")
    fri18 = ReportSchedule(weekday=4, hour=18, folder=Path("r"), timezone="Asia/Seoul")
    assert fri18.due_at(IsoWeek(2026, 47)) == at("2026-11-27T18:00:00+09:00")


def test_due_reports() -> None:
    w47 = IsoWeek(2026, 47)
    # Monday 06:59 KST: W47's report is not due yet; W46's fell due a week ago
    assert due_reports(at("2026-11-16T08:00:00+09:00"), at("2026-11-23T06:59:00+09:00"), MON7) == []
    # Monday 07:00 KST exactly: due
    assert due_reports(at("2026-11-23T06:59:00+09:00"), at("2026-11-23T07:00:00+09:00"), MON7) == [
        w47
    ]
    # already run after it fell due: nothing more until next Monday
    assert due_reports(at("2026-11-23T07:00:00+09:00"), at("2026-11-29T23:00:00+09:00"), MON7) == []
    # three weeks of downtime: the three missed weeks, oldest first
    assert due_reports(at("2026-11-02T08:00:00+09:00"), at("2026-11-23T09:00:00+09:00"), MON7) == [
        IsoWeek(2026, 45),
        IsoWeek(2026, 46),
        w47,
    ]
    # first run ever: only the latest week
    assert due_reports(None, at("2026-11-25T12:00:00+09:00"), MON7) == [w47]
    long_ago = due_reports(at("2020-01-01T00:00:00Z"), at("2026-11-23T09:00:00+09:00"), MON7)
    assert len(long_ago) == MAX_BACKLOG and long_ago[-1] == w47
    # on the Seoul clock, not UTC: Sunday 22:30 UTC is Monday 07:30 KST
    assert due_reports(at("2026-11-22T21:00:00Z"), at("2026-11-22T22:30:00Z"), MON7) == [w47]


def test_parse_schedule(tmp_path: Path) -> None:
    good = parse_schedule({"weekday": "Tue", "hour": 6, "folder": "out"}, tmp_path)
    assert (good.weekday, good.hour, good.folder) == (1, 6, tmp_path / "out")
    assert good.formats == ("html", "pdf", "csv")
    with pytest.raises(ScheduleError) as info:
        parse_schedule({"weekday": "someday", "hour": 24, "formats": ["doc"], "x": 1}, tmp_path)
    assert len(info.value.problems) == 4


def test_site_file_with_reports_table(tmp_path: Path) -> None:
    base = fx.SITE_FILE.read_text(encoding="utf-8")
    path = tmp_path / "site.toml"
    path.write_text(base + '\n[reports]\nweekday = "mon"\nhour = 7\nfolder = "weekly"\n', "utf-8")
    assert check_config(path) == []
    load_site(path)  # [reports] does not stop the site from loading
    schedule = load_schedule(path, "Asia/Seoul")
    assert schedule is not None and schedule.folder == tmp_path / "weekly"
    path.write_text(base + '\n[reports]\nweekday = "mon"\nhour = "seven"\n', "utf-8")
    problems = check_config(path)
    assert [p.key for p in problems] == ["reports.hour"] and problems[0].line is not None
    path.write_text(base + '\n[reports]\nweekday = "mon"\nhuor = 7\n', "utf-8")
    (problem,) = check_config(path)
    assert (problem.key, problem.message) == ("reports.huor", "unknown key (did you mean 'hour'?)")
    assert problem.line == len(base.splitlines()) + 4
    assert load_schedule(fx.SITE_FILE) is None


def test_write_weekly_reports(tmp_path: Path) -> None:
    st = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}", site=fx.site().name)
    st.upgrade()
    st.sync_directory(fx.site())
    for name in ("answered_1st_ring", "transfer_slow"):
        st.save(fx.outputs(fx.FIXTURES / f"{name}.pcap"))
    written = write_weekly_reports(
        st, fx.site(), "2026-W48", tmp_path / "reports", formats=("html", "csv")
    )
    st.close()
    names = sorted(p.name for p in written)
    assert names == [
        "achievement-2026-W48.csv",
        "achievement-2026-W48.html",
        "callwatch-2026-W48-extensions.csv",
        "callwatch-2026-W48-rules.csv",
        "callwatch-2026-W48.html",
    ]
    assert all(p.parent == tmp_path / "reports" / "2026-W48" for p in written)
    assert (
        "slowxfer%40callwatch.test" in (written[0].parent / "callwatch-2026-W48.html").read_text()
    )
    assert not list((tmp_path / "reports" / "2026-W48").glob(".*"))  # no temporary files left
