"""Weekly report speed on PostgreSQL with 1,000,000 generated calls.

    .venv/bin/python bench/report.py [--calls 1000000] [--url postgresql://...] [--keep]

Fills a fresh database (default: ``callwatch_bench`` on 127.0.0.1:5432 as ``postgres``,
dropped and re-created) with a generated office: 30 departments of different sizes under the
five built-in charters, calls on weekdays in office hours (two daily peaks, a few evening and
weekend calls), 80 % inbound; ring times log-normal (median about 4 s), answered unless the
caller gives up or the ring times out (about 11 % missed), transfers on 12 % of answered calls
(log-normal, median 6 s), the agent hanging up first on 7 %, a callback for each missed caller
(kept, late, missed or still open), and the verdicts the charters give for all that. Rows go
in with ``COPY``. Then it times :func:`callwatch.reports.build.weekly_report` for one
department and for all, for a week in the middle of the data (cold first run, then the median
of five), and the HTML rendering of one department.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import psycopg

from callwatch.config import load_site
from callwatch.reports.build import weekly_report
from callwatch.reports.render_html import render_html
from callwatch.reports.weeks import IsoWeek
from callwatch.site import SiteConfig
from callwatch.store import Store

ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=5"
DB = "callwatch_bench"
SITE = "bench-cityhall"
ZONE = ZoneInfo("Asia/Seoul")
SECOND = 1_000_000
PER_DAY = 5000  # calls on a weekday (a weekend day: a twentieth)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
CHARTERS = ("naju", "wanju", "mokpo", "dangjin", "yangju")
# charter → (transfer limit s or None, callback deadline s or None, callback promised)
RULES = {
    "naju": (10.0, 3600.0),
    "wanju": (10.0, 1800.0),
    "mokpo": (10.0, 10800.0),
    "dangjin": (None, None),
    "yangju": (None, None),
}
NAMES = (
    "민원", "세무", "복지", "건축", "교통", "환경", "위생", "문화", "체육", "관광",
    "농업", "산림", "도시계획", "주택", "회계", "총무", "인사", "감사", "정보통신", "민원여권",
    "가족", "청소년", "노인", "장애인", "일자리", "경제", "투자", "안전", "재난", "하수도",
)  # fmt: skip
CALL_COLUMNS = (
    "id", "site", "direction", "caller", "dialled", "department", "charter",
    "started_at", "started_us", "first_ring_at", "first_ring_us", "answered_at", "answered_us",
    "ended_at", "ended_us", "ring_seconds", "answered_by", "hangup_by", "missed", "end_reason",
    "complete", "correlation", "document",
)  # fmt: skip
VERDICT_COLUMNS = (
    "call_id", "source", "position", "rule", "charter", "ok", "measured", "limit", "unit",
    "rings", "limit_rings", "detail", "evidence",
)  # fmt: skip
CALLBACK_COLUMNS = (
    "call_id", "number", "department", "charter", "opened_at", "opened_us", "due_at", "due_us",
    "called_back_at", "called_back_us", "by", "status", "attempts", "requested",
    "delay_seconds", "rank",
)  # fmt: skip


def site_file(folder: Path) -> Path:
    lines = [f'[site]\nname = "{SITE}"\ntimezone = "Asia/Seoul"\ncharter = "naju"\n']
    for i, name in enumerate(NAMES):
        first = 4000 + i * 20
        lines.append(
            f'[[departments]]\nname = "{name}"\nextensions = ["{first}-{first + 14}"]\n'
            f'numbers = ["{7000 + i}"]\ncharter = "{CHARTERS[i % len(CHARTERS)]}"\n'
        )
    path = folder / "bench-site.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _dt(us: int | None) -> datetime | None:
    return None if us is None else EPOCH + timedelta(microseconds=us)


def _office_start(rng: random.Random, day: date) -> int:
    """A call's local start on ``day``: two peaks (10-11 h, 14-16 h), a few off-hours calls."""
    r = rng.random()
    if r < 0.03:
        hour = rng.choice([7, 8, 18, 19, 20])
    elif r < 0.5:
        hour = min(max(int(rng.gauss(10.5, 1.0)), 9), 12)
    else:
        hour = min(max(int(rng.gauss(15.0, 1.2)), 13), 17)
    local = datetime(day.year, day.month, day.day, hour, tzinfo=ZONE) + timedelta(
        seconds=rng.random() * 3600
    )
    delta = local.astimezone(UTC) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * SECOND + delta.microseconds


def generate(total: int, site: SiteConfig, seed: int = 7):  # type: ignore[no-untyped-def]
    """Yield (call row, verdict rows, callback row or None) for ``total`` calls."""
    rng = random.Random(seed)
    deps = site.directory.departments
    weights = [1 / (i + 1) ** 0.8 for i in range(len(deps))]
    exts = {d.name: [str(n) for r in d.extensions for n in range(int(r.first), int(r.last) + 1)]
            for d in deps}  # fmt: skip
    per_day = PER_DAY
    days = []
    day = date(2026, 3, 2)  # a Monday
    while len(days) * per_day < total:
        if day.weekday() < 5 or rng.random() < 0.1:
            days.append(day)
        day += timedelta(days=1)
    made = 0
    for day in days:
        n = min(per_day if day.weekday() < 5 else per_day // 20, total - made)
        for _ in range(n):
            made += 1
            dept = rng.choices(deps, weights)[0]
            yield _call(rng, made, dept.name, dept.charter or site.charter, exts[dept.name],
                        _office_start(rng, day))  # fmt: skip
        if made >= total:
            return


def _call(rng: random.Random, n: int, dept: str, charter: str, exts: list[str], start: int):  # type: ignore[no-untyped-def]
    call_id = f"bench-{n:07d}@pbx"
    r = rng.random()
    direction = "inbound" if r < 0.8 else ("outbound" if r < 0.95 else "internal")
    caller = (
        f"010{rng.randrange(10**8):08d}" if rng.random() < 0.7 else f"061{rng.randrange(10**7):07d}"
    )
    ext = rng.choice(exts)
    first_ring = start + rng.randrange(20_000, 80_000)
    ring = min(rng.lognormvariate(math.log(4.0), 0.7), 40.0)
    gives_up = rng.lognormvariate(math.log(12.0), 0.6)
    missed = direction == "inbound" and (ring > 30.0 or gives_up < ring)
    if missed:
        ring = min(ring, gives_up, 30.0)
    answered = None if missed else first_ring + int(ring * SECOND)
    talk = rng.lognormvariate(math.log(120), 0.8)
    ended = (first_ring + int(ring * SECOND)) if missed else answered + int(talk * SECOND)
    agent_first = not missed and rng.random() < 0.07
    hangup = "caller" if missed or not agent_first else "agent"
    ring_s = None if missed else round(ring, 6)
    doc = {"call": call_id, "direction": direction, "department": dept, "charter": charter,
           "ring_seconds": ring_s, "missed": missed, "legs": [call_id]}  # fmt: skip
    row = (
        call_id, SITE, direction, caller if direction == "inbound" else ext,
        ext if direction == "inbound" else caller, dept, charter,
        _dt(start), start, _dt(first_ring), first_ring, _dt(answered), answered,
        _dt(ended), ended, ring_s, None if missed else ext, hangup, missed,
        "cancel" if missed else "bye", True, "call-id", json.dumps(doc),
    )  # fmt: skip
    verdicts: list[tuple] = []
    callback = None
    if direction != "inbound":
        return row, verdicts, callback
    transfer_limit, deadline = RULES[charter]
    rings = math.floor(ring / 3.0) + 1
    if not missed or ring > 6.0:
        verdicts.append((call_id, "call", 0, "answer", charter, (not missed) and ring < 6.0,
                         round(ring, 6), 6.0, "s", rings, 3, "", "[]"))  # fmt: skip
    if not missed:
        if transfer_limit is not None and rng.random() < 0.12:
            secs = rng.lognormvariate(math.log(6.0), 0.5)
            verdicts.append((call_id, "call", len(verdicts), "transfer", charter,
                             secs <= transfer_limit, round(secs, 6), transfer_limit, "s",
                             None, None, "", "[]"))  # fmt: skip
        verdicts.append((call_id, "call", len(verdicts), "hangup", charter, not agent_first,
                         None, None, "s", None, None, "", "[]"))  # fmt: skip
    elif caller.startswith("010"):
        due = None if deadline is None else ended + int(deadline * SECOND)
        status = rng.choices(("kept", "late", "missed", "open"), (60, 20, 15, 5))[0]
        back = None
        if status == "kept":
            back = ended + int(rng.random() * (deadline or 3600) * SECOND)
        elif status == "late":
            back = ended + int(((deadline or 3600) * (1 + rng.random())) * SECOND)
        delay = None if back is None else round((back - ended) / SECOND, 6)
        callback = (call_id, caller, dept, charter, _dt(ended), ended, _dt(due), due,
                    _dt(back), back, ext if back else None, status, 1 if back else 0, False,
                    delay, 0)  # fmt: skip
        if deadline is not None and status != "open":
            verdicts.append((call_id, "callback", 0, "callback", charter, status == "kept",
                             delay, deadline, "s", None, None, "", "[]"))  # fmt: skip
    return row, verdicts, callback


def fill(url_db: str, site: SiteConfig, total: int) -> float:
    started = time.perf_counter()
    with psycopg.connect(url_db) as conn, conn.cursor() as cur:
        verdict_rows: list[tuple] = []
        callback_rows: list[tuple] = []
        with cur.copy(f"COPY calls ({', '.join(CALL_COLUMNS)}) FROM STDIN") as calls:
            for row, verdicts, callback in generate(total, site):
                calls.write_row(row)
                verdict_rows.extend(verdicts)
                if callback is not None:
                    callback_rows.append(callback)
        quoted = ", ".join(f'"{c}"' for c in VERDICT_COLUMNS)
        with cur.copy(f"COPY verdicts ({quoted}) FROM STDIN") as copy:
            for row in verdict_rows:
                copy.write_row(row)
        quoted = ", ".join(f'"{c}"' for c in CALLBACK_COLUMNS)
        with cur.copy(f"COPY callbacks ({quoted}) FROM STDIN") as copy:
            for row in callback_rows:
                copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE")
    print(f"filled {total:,} calls, {len(verdict_rows):,} verdicts, {len(callback_rows):,} "
          f"callbacks in {time.perf_counter() - started:.1f} s")  # fmt: skip
    return time.perf_counter() - started


def timed(fn, runs: int = 5) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """(first run, median of the next ``runs``) in seconds."""
    t0 = time.perf_counter()
    fn()
    first = time.perf_counter() - t0
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return first, statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{DB}"')
    url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{DB}"
    try:
        with tempfile.TemporaryDirectory() as folder:
            site = load_site(site_file(Path(folder)))
        store = Store.open(url, site=SITE)
        store.upgrade()
        store.sync_directory(site)
        fill(ADMIN.replace("dbname=test", f"dbname={DB}"), site, args.calls)
        week = IsoWeek(2026, 10).shift(args.calls // (5 * PER_DAY) // 2)  # the middle week
        one = timed(lambda: weekly_report(store, site, week, department="민원"))
        every = timed(lambda: weekly_report(store, site, week))
        report = weekly_report(store, site, week, department="민원")
        civil = report.departments[0].compliance
        full = weekly_report(store, site, week)
        render = timed(lambda: render_html(report), runs=3)
        print(f"week {week}: 민원 {civil.volume.offered:,} calls offered; all departments "
              f"{full.total.volume.offered:,} offered")  # fmt: skip
        print(f"weekly report, one department : first {one[0]:.3f} s, median {one[1]:.3f} s")
        print(f"weekly report, all ({len(full.departments)}) : first {every[0]:.3f} s, "
              f"median {every[1]:.3f} s")  # fmt: skip
        print(f"HTML of one department (3 charts): first {render[0]:.3f} s, "
              f"median {render[1]:.3f} s")  # fmt: skip
        store.close()
        ok = one[1] < 1.0 and every[1] < 1.0
        print("target < 1 s each:", "met" if ok else "NOT met")
        return 0 if ok else 1
    finally:
        if not args.keep:
            with psycopg.connect(ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
