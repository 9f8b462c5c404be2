"""The breach and call explorer: ``/explore`` lists breaches (or calls) by rule, department,
extension, caller number, Call-ID and any time range, sorted by a column, a page at a time;
``/explore/export.csv`` and ``/explore/export.xlsx`` write every match (up to
:data:`callwatch.api.search.MAX_EXPORT_ROWS`). Each row links to the call's replay.

Who sees what is the API's rule (:func:`callwatch.api.access.may_see`): every role may list
breaches; calls are for admins and leads. A lead sees their departments only (naming another
is 403). A trainer sees numbers masked, in the page and in the files, and searches by a whole
caller number or Call-ID only (a part would reveal hidden digits one guess at a time).

Staff calls only by default: ``tag=probe`` lists callwatch's own probe calls (marked in the
page, ``tag`` column in the files), ``tag=all`` both.

Times are entered and shown on the site's clock (``2026-11-20T09:00`` in the form means 09:00
in the site's time zone); with no time given the explorer shows the last seven days.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.datastructures import QueryParams

from callwatch import i18n
from callwatch.api import search
from callwatch.api.access import may_see
from callwatch.api.errors import Unavailable
from callwatch.api.queries import TAGS, CallFilter, number_digits
from callwatch.charter import registry
from callwatch.i18n import RULES
from callwatch.reports.weeks import local_datetime
from callwatch.site import SiteConfig
from callwatch.store.export import spreadsheet_cell
from callwatch.timefmt import MICROS
from callwatch.web import views, xlsx
from callwatch.web.routes import WebContext, _error, _login_redirect, _render, _viewer, context
from callwatch.web.strings import tr

router = APIRouter(include_in_schema=False)

PAGE_SIZE = 50
DEFAULT_DAYS = 7
SHOWN = "%Y-%m-%d %H:%M:%S"
_FORM_TIME = "%Y-%m-%dT%H:%M"
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
BREACH_COLUMNS = (
    "started_at",
    "department",
    "rule",
    "rule_name",
    "extension",
    "caller",
    "measured",
    "limit",
    "unit",
    "call",
    "replay_url",
    "tag",
)
CALL_COLUMNS = (
    "started_at",
    "department",
    "direction",
    "caller",
    "dialled",
    "answered_by",
    "ring_seconds",
    "missed",
    "hangup_by",
    "breaches",
    "call",
    "replay_url",
    "tag",
)


SORT_LABELS = {
    "time": "report.time",
    "department": "report.department",
    "rule": "report.rule",
    "extension": "report.extension",
    "measured": "report.measured",
    "ring": "report.ring_time",
}


class FormError(ValueError):
    """A filter that cannot be used; ``key`` is its message in the catalogue."""

    def __init__(self, key: str, status: int = 400, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.status = status
        self.params = params


@dataclass(frozen=True, slots=True)
class Form:
    """The explorer's filters as the form holds them (text, as entered)."""

    kind: str
    rule: str
    department: str
    extension: str
    caller: str
    call: str
    since: str
    until: str
    sort: str
    order: str
    page: int
    tag: str = "staff"

    def query(self, **changes: object) -> str:
        """The query string of this form with ``changes``."""
        values = {
            "kind": self.kind,
            "rule": self.rule,
            "department": self.department,
            "extension": self.extension,
            "caller": self.caller,
            "call": self.call,
            "from": self.since,
            "to": self.until,
            "sort": self.sort,
            "order": self.order,
            "page": self.page,
            "tag": self.tag,
        }
        values.update({("from" if k == "since" else k): v for k, v in changes.items()})
        shown = {k: v for k, v in values.items() if v not in ("", None, 1) or k == "from"}
        if shown.get("tag") == "staff":
            del shown["tag"]
        return urlencode(shown)


def read_form(params: QueryParams, site: SiteConfig, now: int) -> Form:
    """The form from the query string; the time range defaults to the last seven days."""

    def text(name: str, limit: int = 200) -> str:
        return (params.get(name) or "").strip()[:limit]

    since = text("from", 32)
    if "from" not in params and "to" not in params:
        today = local_datetime(now, site.timezone).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        since = (today - timedelta(days=DEFAULT_DAYS - 1)).strftime(_FORM_TIME)
    try:
        page = max(1, min(int(params.get("page") or 1), 100_000))
    except ValueError:
        page = 1
    kind = text("kind") if text("kind") in search.KINDS else "breaches"
    sorts = search.BREACH_SORTS if kind == "breaches" else search.CALL_SORTS
    return Form(
        kind=kind,
        rule=text("rule", 64),
        department=text("department"),
        extension=text("extension", 64),
        caller=text("caller", 64),
        call=text("call", 512),
        since=since,
        until=text("to", 32),
        sort=text("sort") if text("sort") in sorts else "time",
        order="asc" if text("order") == "asc" else "desc",
        page=page,
        tag=text("tag") if text("tag") in TAGS else "staff",
    )


def local_us(text: str, timezone: str, name: str) -> int | None:
    """A time from the form (``2026-11-20T09:00`` or a date) on the site's clock, as capture
    µs; an offset given in the text is kept."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise FormError("explore.bad_time", field=name, value=text) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(timezone))
    if not 1970 <= value.year <= 9998:
        raise FormError("explore.bad_time", field=name, value=text)
    delta = value.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * MICROS + delta.microseconds


def build_search(ctx: WebContext, viewer: views.Viewer, form: Form) -> search.Search:
    """The search the form asks for, within what the viewer may see."""
    site = ctx.site
    if form.kind == "calls" and not may_see(viewer.principal, "calls"):
        raise FormError("error.forbidden", 403)
    if form.rule and registry.get(form.rule) is None:
        raise FormError("explore.bad_rule", value=form.rule)
    if form.department:
        if form.department not in [d.name for d in site.directory.departments]:
            raise FormError("explore.bad_department", value=form.department)
        if not viewer.may_read(form.department):
            raise FormError("error.forbidden", 403)
    scope = viewer.principal.scope(form.department or None)
    caller = None
    if form.caller:
        caller = number_digits(form.caller)
        if caller is None:
            raise FormError("explore.bad_caller", value=form.caller)
    call = None
    if form.call:
        call = views.masker(site).resolve(form.call)
        if call is None:
            raise FormError("explore.bad_call")
    since = local_us(form.since, site.timezone, tr("explore.from", viewer.lang))
    until = local_us(form.until, site.timezone, tr("explore.to", viewer.lang))
    if since is not None and until is not None and until <= since:
        raise FormError("explore.bad_range")
    where = CallFilter(
        site.name,
        scope,
        form.extension or None,
        form.rule or None,
        None,
        since,
        until,
        caller=caller,
        call=call,
        exact=viewer.masked,
        tag=form.tag,  # type: ignore[arg-type]  # one of TAGS (read_form)
    )
    return search.Search(where, form.kind, form.sort, form.order == "desc")  # type: ignore[arg-type]


def department_name(site: SiteConfig, name: str | None, lang: str) -> str:
    """A department as the page's language names it."""
    if name is None:
        return tr("report.no_department", lang)
    if lang == "en":
        found = next((d for d in site.directory.departments if d.name == name), None)
        if found is not None and found.name_en:
            return found.name_en
    return name


def shown_row(
    site: SiteConfig, viewer: views.Viewer, kind: str, row: dict[str, Any]
) -> dict[str, Any]:
    """A row as the viewer may see it, worded in their language."""
    lang = viewer.lang
    show = views.show_number(site, viewer)
    out = {
        "call": views.shown_id(site, viewer, row["call"]),
        "when": views.local(site, row["started_us"], SHOWN),
        "department": department_name(site, row["department"], lang),
        "extension": row["answered_by"] or "",
        "caller": show(row["caller"]) or "",
        "tag": row["tag"],
    }
    if kind == "breaches":
        rule = row["rule"]
        out |= {
            "rule": rule,
            "rule_name": tr(f"rule.{rule}", lang),
            "measured": i18n.measure(rule, row["measured"], lang, row["rings"]),
            "limit": i18n.limit(rule, row["limit"], lang, row["limit_rings"]),
        }
    else:
        ring = row["ring_seconds"]
        out |= {
            "direction": tr(f"direction.{row['direction']}", lang)
            if row["direction"] in ("inbound", "outbound", "internal", "external")
            else row["direction"],
            "dialled": show(row["dialled"]) or "",
            "ring": "" if ring is None else tr("unit.seconds_value", lang, value=f"{ring:.1f}"),
            "missed": row["missed"],
            "breaches": [tr(f"rule.{r}", lang) for r in row["breaches"]],
        }
    return out


@router.get("/explore", response_class=HTMLResponse)
def explore(request: Request) -> Response:
    """The explorer page: the form, a page of matching rows, links to export them."""
    ctx = context(request)
    viewer = _viewer(request, ctx)
    if viewer is None:
        return _login_redirect(request)
    now = ctx.clock()
    form = read_form(request.query_params, ctx.site, now)
    values: dict[str, Any] = {
        "viewer": viewer,
        "site": ctx.site,
        "form": form,
        "rules": RULES,
        "departments": [
            (name, department_name(ctx.site, name, viewer.lang))
            for name in views.visible_departments(ctx.site, viewer)
        ],
        "may_list_calls": may_see(viewer.principal, "calls"),
        "sorts": search.BREACH_SORTS if form.kind == "breaches" else search.CALL_SORTS,
        "sort_labels": SORT_LABELS,
        "tags": TAGS,
        "rows": [],
        "total": 0,
        "pages": 1,
        "problem": None,
    }
    try:
        wanted = build_search(ctx, viewer, form)
        found = search.page(ctx.store, wanted, (form.page - 1) * PAGE_SIZE, PAGE_SIZE)
    except FormError as exc:
        if exc.status == 403:
            return _error(request, viewer, 403, exc.key)
        values["problem"] = tr(exc.key, viewer.lang, **exc.params)
        return _render(request, "explore.html", 400, **values)
    except Unavailable:
        return _error(request, viewer, 503, "error.not_found")
    values["rows"] = [shown_row(ctx.site, viewer, form.kind, r) for r in found.rows]
    values["total"] = found.total
    values["pages"] = max(1, -(-found.total // PAGE_SIZE))
    return _render(request, "explore.html", **values)


@router.get("/explore/export.{fmt}", response_model=None)
def export(request: Request, fmt: str) -> Response:
    """Every matching row as CSV (UTF-8 with a byte-order mark) or XLSX, masked for a viewer
    who may not see numbers; each row with the absolute address of its replay."""
    ctx = context(request)
    viewer = _viewer(request, ctx)
    if viewer is None:
        return _login_redirect(request)
    if fmt not in ("csv", "xlsx"):
        return _error(request, viewer, 404, "error.not_found")
    form = read_form(request.query_params, ctx.site, ctx.clock())
    try:
        wanted = build_search(ctx, viewer, form)
        total = search.count(ctx.store, wanted)
    except FormError as exc:
        return _error(
            request,
            viewer,
            exc.status,
            "error.forbidden" if exc.status == 403 else "explore.bad_form",
        )
    except Unavailable:
        return _error(request, viewer, 503, "error.not_found")
    base = public_base(request, ctx)
    columns = BREACH_COLUMNS if form.kind == "breaches" else CALL_COLUMNS
    rows = (
        export_row(ctx.site, viewer, form.kind, r, base)
        for r in search.every_row(ctx.store, wanted)
    )
    name = _file_name(form)
    headers = {
        "Content-Disposition": f'attachment; filename="{name}.{fmt}"',
        "X-Total-Count": str(total),
        "Cache-Control": "no-store",
    }
    if fmt == "csv":
        return StreamingResponse(
            _csv(columns, rows), media_type="text/csv; charset=utf-8", headers=headers
        )
    body = xlsx.workbook(form.kind, columns, ([r[c] for c in columns] for r in rows))
    return Response(body, media_type=xlsx.MEDIA_TYPE, headers=headers)


def export_row(
    site: SiteConfig, viewer: views.Viewer, kind: str, row: dict[str, Any], base: str
) -> dict[str, Any]:
    """One exported row: fixed English columns, times on the site's clock with their offset,
    numbers masked for a viewer who may not see them (a Call-ID with its number masked)."""
    show = views.show_number(site, viewer)
    call = row["call"]
    shown = views.masker(site).text(call) if viewer.masked else call
    out: dict[str, Any] = {
        "started_at": local_datetime(row["started_us"], site.timezone).isoformat(
            timespec="seconds"
        ),
        "department": row["department"] or "",
        "caller": show(row["caller"]) or "",
        "call": shown,
        "replay_url": f"{base}/calls/{quote(views.shown_id(site, viewer, call), safe='')}",
        "tag": row["tag"] or "",
    }
    if kind == "breaches":
        out |= {
            "extension": row["answered_by"] or "",
            "rule": row["rule"],
            "rule_name": tr(f"rule.{row['rule']}", viewer.lang),
            "measured": row["measured"],
            "limit": row["limit"],
            "unit": row["unit"],
        }
    else:
        out |= {
            "direction": row["direction"],
            "dialled": show(row["dialled"]) or "",
            "answered_by": row["answered_by"] or "",
            "ring_seconds": row["ring_seconds"],
            "missed": "true" if row["missed"] else "false",
            "hangup_by": row["hangup_by"] or "",
            "breaches": " ".join(row["breaches"]),
        }
    return out


def public_base(request: Request, ctx: WebContext) -> str:
    """The base of absolute links: the configured public address, else this request's."""
    return (ctx.public_url or str(request.base_url)).rstrip("/")


def _csv(columns: tuple[str, ...], rows: Iterable[dict[str, Any]]) -> Iterator[bytes]:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\r\n")
    buf.write("\ufeff")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: spreadsheet_cell(v) for k, v in row.items()})
        if buf.tell() > 64_000:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode("utf-8")


def _file_name(form: Form) -> str:
    span = "-".join(
        _SAFE.sub("", part.replace("T", "")) for part in (form.since, form.until) if part
    )
    return f"callwatch-{form.kind}" + (f"-{span}" if span else "")
