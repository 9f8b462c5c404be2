"""Reports from the pages: ``/reports`` asks for the whole office or one department, an ISO
week or any range of days, as HTML, PDF or CSV; ``/reports/download`` makes the file with
the same builders and renderers as ``callwatch report`` (:mod:`callwatch.reports`).

Reports are for admins and leads (:func:`callwatch.api.access.may_see` ``reports``); a lead
reports on one of their departments, never the whole office. A period that is not over is
marked partial in the file. Links to calls in the HTML and PDF are absolute, under the
configured public address (``[service] public_url``, ``CALLWATCH_PUBLIC_URL``) or else the
address the request came to, so they work in a file sent by mail. The weeks offered end with
the current one: no week that has not begun.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from callwatch.api.access import may_see
from callwatch.api.params import report_week
from callwatch.reports import build, render_csv, render_html
from callwatch.reports.errors import RenderError, ReportError, WeekError
from callwatch.reports.render_pdf import render_pdf
from callwatch.reports.weeks import local_datetime, week_of
from callwatch.store import StoreError
from callwatch.web import views
from callwatch.web.explore import department_name, public_base
from callwatch.web.routes import _error, _login_redirect, _render, _viewer, context

router = APIRouter(include_in_schema=False)

WEEKS_OFFERED = 26
FORMATS = {
    "html": ("text/html; charset=utf-8", "html"),
    "pdf": ("application/pdf", "pdf"),
    "csv": ("text/csv; charset=utf-8", "csv"),
    "csv-extensions": ("text/csv; charset=utf-8", "csv"),
    "csv-probes": ("text/csv; charset=utf-8", "csv"),
}
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


@router.get("/reports", response_class=HTMLResponse)
def reports_page(request: Request) -> Response:
    """The form: scope, period (week or days) and format."""
    ctx = context(request)
    viewer = _viewer(request, ctx)
    if viewer is None:
        return _login_redirect(request)
    if not may_see(viewer.principal, "reports"):
        return _error(request, viewer, 403, "error.forbidden")
    now = ctx.clock()
    this_week = week_of(now, ctx.site.timezone)
    today = local_datetime(now, ctx.site.timezone).date()
    weeks = [this_week.shift(-i) for i in range(WEEKS_OFFERED)]
    names = views.visible_departments(ctx.site, viewer)
    return _render(
        request,
        "reports.html",
        viewer=viewer,
        site=ctx.site,
        whole_office=viewer.principal.scope(None) is None,
        departments=[(n, department_name(ctx.site, n, viewer.lang)) for n in names],
        weeks=[(str(w), w.monday, w == this_week) for w in weeks],
        first_day=this_week.monday.isoformat(),
        today=today.isoformat(),
        formats=list(FORMATS),
    )


@router.get("/reports/download", response_model=None)
def download(request: Request) -> Response:
    """The report file; 400 for a period that cannot be reported, 403 outside the scope."""
    ctx = context(request)
    viewer = _viewer(request, ctx)
    if viewer is None:
        return _login_redirect(request)
    if not may_see(viewer.principal, "reports"):
        return _error(request, viewer, 403, "error.forbidden")
    params = request.query_params
    fmt = params.get("format") or "html"
    if fmt not in FORMATS:
        return _error(request, viewer, 400, "reports.bad_format")
    department = params.get("department") or None
    if department is None and viewer.principal.scope(None) is not None:
        scope = views.visible_departments(ctx.site, viewer)
        if len(scope) != 1:
            return _error(request, viewer, 403, "error.forbidden")
        department = scope[0]
    if department is not None and not viewer.may_read(department):
        return _error(request, viewer, 403, "error.forbidden")
    now = ctx.clock()
    try:
        report = _build(ctx, params, department, now)
    except build.UnknownDepartment:
        return _error(request, viewer, 404, "error.not_found")
    except (WeekError, ReportError, ValueError):
        return _error(request, viewer, 400, "reports.bad_period")
    except StoreError:
        return _error(request, viewer, 503, "error.not_found")
    call_url = f"{public_base(request, ctx)}/calls/{{id}}"
    lang = viewer.lang
    try:
        body = _render_file(report, fmt, lang, call_url)
    except RenderError:
        return _error(request, viewer, 503, "reports.no_pdf")
    media, suffix = FORMATS[fmt]
    stem = f"callwatch-{report.week.replace('/', '_')}-{department or 'all'}"
    if fmt in ("csv-extensions", "csv-probes"):
        stem += fmt.removeprefix("csv")
    ascii_name = _SAFE.sub("_", stem)
    return Response(
        body,
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="{ascii_name}.{suffix}"; '
            f"filename*=UTF-8''{quote(stem)}.{suffix}",
            "Cache-Control": "no-store",
        },
    )


def _build(ctx: Any, params: Any, department: str | None, now: int) -> Any:
    if (params.get("period") or "week") == "range":
        first = date.fromisoformat(params.get("from") or "")
        last = date.fromisoformat(params.get("to") or "")
        return build.range_report(ctx.store, ctx.site, first, last, department=department, now=now)
    text = params.get("week")
    week = report_week(text) if text else week_of(now, ctx.site.timezone)
    return build.weekly_report(ctx.store, ctx.site, week, department=department, now=now)


def _render_file(report: Any, fmt: str, lang: str, call_url: str) -> bytes:
    if fmt == "html":
        return render_html.render_html(report, lang, call_url=call_url).encode("utf-8")
    if fmt == "pdf":
        return render_pdf(report, lang, call_url=call_url)
    if fmt == "csv":
        return render_csv.rules_csv(report, lang).encode("utf-8")
    if fmt == "csv-probes":
        return render_csv.probes_csv(report, lang).encode("utf-8")
    return render_csv.extensions_csv(report, lang).encode("utf-8")
