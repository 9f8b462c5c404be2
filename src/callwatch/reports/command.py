"""``callwatch report``: a weekly report from the store as HTML, PDF or CSV.

::

    callwatch report --config site.toml --week 2026-W47 [--department 민원]
                     --format html|pdf|csv [--lang ko|en] [--output FILE|DIR] [--public]

The database is the one ``callwatch serve`` writes (``CALLWATCH_DATABASE_URL``, the site
file's ``[service] database_url``, else the SQLite file under the data folder). Without
``--week`` the last finished week on the site's clock is reported. Without ``--output`` the
files are written to the working directory as ``callwatch-2026-W47[-민원].html``; ``-``
writes HTML or the first CSV table to standard output. The paths written are printed.

The store and the renderers are imported inside the functions that use them: the command line
imports this module for its arguments, and a CSV report should not load WeasyPrint.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

from callwatch.reports.errors import ReportError
from callwatch.site import SiteConfig

if TYPE_CHECKING:
    from callwatch.reports.data import Achievement, WeeklyReport


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``callwatch report``."""
    parser.add_argument("--config", required=True, metavar="SITE.toml", help="site configuration")
    parser.add_argument("--week", metavar="YYYY-Www", help="ISO week (default: the last one)")
    parser.add_argument("--department", metavar="NAME", help="one department (default: all)")
    parser.add_argument("--format", choices=("html", "pdf", "csv"), default="html")
    parser.add_argument("--lang", choices=("ko", "en"), default="ko")
    parser.add_argument("--output", metavar="FILE|DIR", help="where to write ('-': stdout)")
    parser.add_argument(
        "--public",
        action="store_true",
        help="the public achievement summary (이행기준 달성도), without personal data",
    )
    parser.add_argument(
        "--call-url",
        metavar="URL",
        help="link of a breached call, {id} replaced (default: PUBLIC_URL/calls/{id} with "
        "the [service] public_url setting, else /calls/{id})",
    )


def run(
    args: argparse.Namespace, site: SiteConfig, store_url: str, public_url: str | None = None
) -> list[str]:
    """Build and write the report; return the paths written ('-' for stdout). Links to calls
    are ``--call-url``, else under ``public_url`` (absolute, for a file sent by mail), else
    relative. Raises :class:`ReportError` or :class:`~callwatch.store.StoreError` with a
    one-line reason."""
    from callwatch.reports.build import achievement_summary, weekly_report
    from callwatch.reports.weeks import parse_week, week_of
    from callwatch.store.store import Store

    week = (
        parse_week(args.week)
        if args.week
        else week_of(int(time.time() * 1_000_000), site.timezone).previous()
    )
    if not args.call_url:
        args.call_url = f"{public_url.rstrip('/')}/calls/{{id}}" if public_url else "/calls/{id}"
    _check_database(store_url)
    store = Store.open(store_url, site=site.name)
    try:
        now = int(time.time() * 1_000_000)
        report = weekly_report(store, site, week, department=args.department, now=now)
    finally:
        store.close()
    stem = f"callwatch-{report.week}" + (f"-{args.department}" if args.department else "")
    if args.public:
        stem = f"achievement-{report.week}" + (f"-{args.department}" if args.department else "")
        return _write_all(_achievement_outputs(achievement_summary(report), args), stem, args)
    return _write_all(_report_outputs(report, args), stem, args)


def _report_outputs(report: WeeklyReport, args: argparse.Namespace) -> list[tuple[str, bytes]]:
    from callwatch.reports import render_csv, render_html, render_pdf

    if args.format == "html":
        html = render_html.render_html(report, args.lang, call_url=args.call_url)
        return [(".html", html.encode())]
    if args.format == "pdf":
        return [(".pdf", render_pdf.render_pdf(report, args.lang, call_url=args.call_url))]
    tables = [
        ("-rules.csv", render_csv.rules_csv(report, args.lang).encode()),
        ("-extensions.csv", render_csv.extensions_csv(report, args.lang).encode()),
    ]
    if report.probes:  # only where probe calls were placed
        tables.append(("-probes.csv", render_csv.probes_csv(report, args.lang).encode()))
    return tables


def _achievement_outputs(summary: Achievement, args: argparse.Namespace) -> list[tuple[str, bytes]]:
    from callwatch.reports import render_csv, render_html, render_pdf

    if args.format == "html":
        return [(".html", render_html.render_achievement_html(summary, args.lang).encode())]
    if args.format == "pdf":
        return [(".pdf", render_pdf.render_achievement_pdf(summary, args.lang))]
    return [(".csv", render_csv.achievement_csv(summary, args.lang).encode())]


def _write_all(outputs: list[tuple[str, bytes]], stem: str, args: argparse.Namespace) -> list[str]:
    if args.output == "-":
        if outputs[0][0] == ".pdf":
            raise ReportError("a PDF cannot go to standard output; give --output FILE")
        sys.stdout.buffer.write(outputs[0][1])
        sys.stdout.flush()
        return ["-"]
    target = Path(args.output) if args.output else Path.cwd()
    written = []
    for i, (suffix, content) in enumerate(outputs):
        if target.is_dir() or (args.output or "").endswith(("/", "\\")):
            path = target / f"{stem}{suffix}"
        elif i == 0:
            path = target
        else:  # more CSV tables beside the first: report.csv -> report-extensions.csv
            path = target.with_name(f"{target.stem}{suffix}")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(content)
        except OSError as exc:
            raise ReportError(f"cannot write {path}: {exc.strerror or exc}") from exc
        written.append(str(path))
    return written


def _check_database(url: str) -> None:
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise ReportError(
                f"no database at {path} (store calls with 'callwatch serve' or "
                "'callwatch ingest --store', or set CALLWATCH_DATABASE_URL)"
            )
