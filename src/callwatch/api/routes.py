"""The routes under ``/api``: who may call each, what it takes and what it answers.

=========================== ================ ===================================================
route                       roles            answers
=========================== ================ ===================================================
GET  /api/departments       all              the site's departments
GET  /api/compliance        admin, lead      compliance per department and rule over a period
GET  /api/calls             admin, lead      a page of calls (filters, newest first)
GET  /api/calls/{id}        all              a call with events, verdicts, SIP messages
GET  /api/breaches          all              a page of failed verdicts
GET  /api/callbacks         admin, lead      a page of callbacks (by status)
POST /api/callbacks         admin, lead      record the time a caller asked to be called back
GET  /api/reports/weekly    admin, lead      the weekly report of an ISO week
GET  /api/live              all              Server-Sent Events: events and breaches, with
                                             catch-up (``Last-Event-ID``)
=========================== ================ ===================================================

Lists (calls, breaches, callbacks) and the live feed keep to the staff's calls unless
``tag=probe`` (callwatch's own probe calls) or ``tag=all`` is given; each call and breach
carries its ``tag`` (null for a staff call, ``probe`` for a probe call).

A lead sees only their departments (asking for another is 403); a trainer's answers have every
caller number masked. Bad parameters are 400 (or 422 for a wrong type) with a ``detail``
saying what is wrong; an unknown call is 404; a store that cannot be reached is 503.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Annotated, Any

from anyio import to_thread
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import StreamingResponse

from callwatch.api import callback_requests, queries
from callwatch.api.access import require_view
from callwatch.api.auth import Principal
from callwatch.api.context import ApiContext, api_context
from callwatch.api.errors import BadRequest, Forbidden, NotFound, Unavailable
from callwatch.api.live import LIVE_KINDS, Broadcaster, LiveItem, LiveKind, Subscription
from callwatch.api.params import (
    decode_cursor,
    encode_cursor,
    limit_param,
    period,
    time_param,
    week_param,
)
from callwatch.api.schemas import (
    BreachPage,
    CallbackPage,
    CallbackRequest,
    CallbackStatus,
    CallbackUpdate,
    CallDetail,
    CallPage,
    Department,
    Problem,
    Rule,
)
from callwatch.reports import build as reports
from callwatch.reports import data as report_data
from callwatch.reports.errors import ReportError
from callwatch.store.errors import StoreError, StoreUnavailable

HEARTBEAT_SECONDS = 15.0
_DEFAULT_PERIOD = timedelta(days=7)

_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "a parameter that cannot be used"},
    401: {"model": Problem, "description": "no token, or an unknown or revoked one"},
    403: {"model": Problem, "description": "the token's role or departments do not cover it"},
    503: {"model": Problem, "description": "the store cannot be reached"},
}
router = APIRouter(prefix="/api", tags=["api"], responses=_REFUSALS)

Ctx = Annotated[ApiContext, Depends(api_context)]
# who may call each route: the roles that may see its view (api.access.SEES)
ForDepartments = Annotated[Principal, Depends(require_view("departments"))]
ForCompliance = Annotated[Principal, Depends(require_view("compliance"))]
ForCalls = Annotated[Principal, Depends(require_view("calls"))]
ForCall = Annotated[Principal, Depends(require_view("call"))]
ForBreaches = Annotated[Principal, Depends(require_view("breaches"))]
ForCallbacks = Annotated[Principal, Depends(require_view("callbacks"))]
ForReports = Annotated[Principal, Depends(require_view("reports"))]
ForLive = Annotated[Principal, Depends(require_view("live"))]
DepartmentQ = Annotated[
    str | None, Query(max_length=200, description="a department name (see /api/departments)")
]
FromQ = Annotated[
    str | None,
    Query(alias="from", max_length=64, description="ISO 8601 time, inclusive (naive: UTC)"),
]
ToQ = Annotated[
    str | None, Query(alias="to", max_length=64, description="ISO 8601 time, exclusive")
]
LimitQ = Annotated[int | None, Query(description="page size, 1 to 500 (default 100)")]
CursorQ = Annotated[
    str | None, Query(max_length=2000, description="next_cursor of the previous page")
]
TagQ = Annotated[
    queries.Tag,
    Query(
        description="staff (default): the calls that count against staff; probe: callwatch's "
        "own probe calls (docs/probes.md); all: both",
    ),
]
CallerQ = Annotated[
    str | None,
    Query(
        max_length=64,
        description="a caller number (separators and +82 allowed): any part of it; a whole "
        "number for a token whose numbers are masked",
    ),
]
CallQ = Annotated[
    str | None,
    Query(
        alias="call",
        max_length=512,
        description="a Call-ID (the call's or one of its legs'): any part of it; a whole one "
        "(or a ref- reference) for a token whose numbers are masked",
    ),
]


def _department(ctx: ApiContext, who: Principal, name: str | None) -> list[str] | None:
    """The departments a query keeps to: checks ``name`` exists (400) and is readable (403)."""
    if name is not None:
        known = [d.name for d in ctx.site.directory.departments]
        if name not in known:
            raise BadRequest(
                f"unknown department {name!r} (this site has: {', '.join(known) or 'none'})"
            )
        if not who.may_read(name):
            raise Forbidden(f"this token may not read department {name!r}")
    return who.scope(name)


def search_terms(
    ctx: ApiContext, who: Principal, caller: str | None, call: str | None
) -> dict[str, Any]:
    """The ``caller``/``call`` conditions of a :class:`queries.CallFilter` for ``who``: whole
    values only when their numbers are masked (400 for a caller that is not a number)."""
    out: dict[str, Any] = {"exact": who.masks_numbers}
    if caller:
        digits = queries.number_digits(caller)
        if digits is None:
            raise BadRequest(f"caller={caller!r} is not a phone number")
        out["caller"] = digits
    if call:
        real = ctx.masker.resolve(call.strip())
        if real is None:
            raise BadRequest("call: a reference from before a restart (list again)")
        out["call"] = real
    return out


def _shown(ctx: ApiContext, who: Principal, body: Any) -> Any:
    """``body`` as ``who`` may see it (numbers masked for a trainer)."""
    return ctx.masker.value(body) if who.masks_numbers else body


@router.get("/departments", response_model=list[Department])
def departments(ctx: Ctx, who: ForDepartments) -> list[dict[str, Any]]:
    """The site's departments (a lead's token lists only theirs)."""
    return [
        {
            "name": d.name,
            "name_en": d.name_en,
            "charter": d.charter or ctx.site.charter,
            "numbers": list(d.numbers),
            "extensions": [str(r) for r in d.extensions],
        }
        for d in ctx.site.directory.departments
        if who.may_read(d.name)
    ]


@router.get("/compliance", response_model=list[report_data.Compliance])
def compliance(
    ctx: Ctx,
    who: ForCompliance,
    department: DepartmentQ = None,
    since: FromQ = None,
    until: ToQ = None,
) -> list[Any]:
    """Compliance per department and rule over ``[from, to)`` (default: the 7 days before
    ``to``, which defaults to now): pass rates, counts, ring and transfer times, callbacks."""
    store = ctx.need_store()
    scope = _department(ctx, who, department)
    start, end = period(since, until)
    if end is None:
        end = (
            callback_requests.wall_clock_us() if start is None else start + _micros(_DEFAULT_PERIOD)
        )
    if start is None:
        start = end - _micros(_DEFAULT_PERIOD)
    if end <= start:
        raise BadRequest("to must be after from")
    names = [None] if scope is None else scope
    out: list[Any] = []
    for name in names:
        out.extend(
            _report(lambda n=name: reports.compliance(store, ctx.site, start, end, department=n))
        )
    return out


@router.get("/calls", response_model=CallPage, response_model_exclude_unset=True)
def calls(
    ctx: Ctx,
    who: ForCalls,
    department: DepartmentQ = None,
    extension: Annotated[str | None, Query(max_length=64, description="a staff extension")] = None,
    rule: Annotated[Rule | None, Query(description="calls judged by this rule")] = None,
    breached: Annotated[
        bool | None, Query(description="only calls with (or without) a breach")
    ] = None,
    since: FromQ = None,
    until: ToQ = None,
    caller: CallerQ = None,
    call_id: CallQ = None,
    tag: TagQ = "staff",
    limit: LimitQ = None,
    cursor: CursorQ = None,
) -> dict[str, Any]:
    """Calls begun in ``[from, to)``, newest first, filtered; page with ``cursor``."""
    where = queries.CallFilter(
        ctx.site.name,
        _department(ctx, who, department),
        extension,
        rule,
        breached,
        *period(since, until),
        **search_terms(ctx, who, caller, call_id),
        tag=tag,
    )
    after = decode_cursor(cursor, (int, str))
    page = queries.calls_page(ctx.need_store(), where, limit_param(limit), after)
    return {"items": page.rows, "next_cursor": _cursor(page.next_key)}


@router.get(
    "/calls/{call_id}",
    response_model=CallDetail,
    response_model_exclude_unset=True,
    responses={404: {"model": Problem, "description": "no such call"}},
)
def call(ctx: Ctx, who: ForCall, call_id: Annotated[str, Path(max_length=512)]) -> Any:
    """One call: the call, its leg events in time order, its verdicts, its SIP messages.
    ``call_id`` may be a reference (``ref-...``) from a masked answer."""
    real = ctx.masker.resolve(call_id)
    if real is None:
        raise NotFound(f"no call {call_id!r} (a reference from before a restart: list again)")
    found = queries.call_detail(ctx.need_store(), ctx.site.name, real)
    if found is None:
        raise NotFound(f"no call {_shown(ctx, who, call_id)!r}")
    if not who.may_read(found["call"]["department"]):
        raise Forbidden(f"call {_shown(ctx, who, call_id)!r} belongs to another department")
    return _shown(ctx, who, found)


@router.get("/breaches", response_model=BreachPage)
def breaches(
    ctx: Ctx,
    who: ForBreaches,
    department: DepartmentQ = None,
    extension: Annotated[str | None, Query(max_length=64, description="a staff extension")] = None,
    rule: Annotated[Rule | None, Query(description="breaches of this rule")] = None,
    since: FromQ = None,
    until: ToQ = None,
    caller: CallerQ = None,
    call_id: CallQ = None,
    tag: TagQ = "staff",
    limit: LimitQ = None,
    cursor: CursorQ = None,
) -> Any:
    """Failed verdicts of calls begun in ``[from, to)``, newest first; page with ``cursor``."""
    where = queries.CallFilter(
        ctx.site.name,
        _department(ctx, who, department),
        extension,
        rule,
        None,
        *period(since, until),
        **search_terms(ctx, who, caller, call_id),
        tag=tag,
    )
    after = decode_cursor(cursor, (int, str, str, int))
    page = queries.breaches_page(ctx.need_store(), where, limit_param(limit), after)
    return _shown(ctx, who, {"items": page.rows, "next_cursor": _cursor(page.next_key)})


@router.get("/callbacks", response_model=CallbackPage)
def callbacks(
    ctx: Ctx,
    who: ForCallbacks,
    status: Annotated[
        CallbackStatus | None, Query(description="open, kept, late or missed")
    ] = None,
    department: DepartmentQ = None,
    since: FromQ = None,
    until: ToQ = None,
    tag: TagQ = "staff",
    limit: LimitQ = None,
    cursor: CursorQ = None,
) -> dict[str, Any]:
    """Callbacks opened in ``[from, to)`` (by ``status``), newest first."""
    start, end = period(since, until)
    page = queries.callbacks_page(
        ctx.need_store(),
        status=status,
        departments=_department(ctx, who, department),
        since=start,
        until=end,
        limit=limit_param(limit),
        after=decode_cursor(cursor, (int, str)),
        tag=tag,
    )
    return {"items": page.rows, "next_cursor": _cursor(page.next_key)}


@router.post(
    "/callbacks",
    response_model=CallbackUpdate,
    responses={
        404: {"model": Problem, "description": "no open or missed callback for that number"},
        422: {"model": Problem, "description": "a time out of bounds (see the description)"},
    },
)
async def request_callback(ctx: Ctx, who: ForCallbacks, body: CallbackRequest) -> dict[str, Any]:
    """Record that a caller asked to be called back at ``due_at``: it becomes the deadline of
    their waiting callbacks of the token's departments (see the charter's callback book).
    ``asked_at`` must lie between the missed call (at most 14 days before) and now, ``due_at``
    between ``asked_at`` and 14 days after it; 422 otherwise."""
    due = time_param("due_at", body.due_at)
    asked = time_param("asked_at", body.asked_at)
    if due is None:
        raise BadRequest("due_at is required: the time the caller asked to be called back")
    if asked is None:
        asked = callback_requests.wall_clock_us()
    changed = await to_thread.run_sync(
        callback_requests.record_request, ctx, who, body.number, asked, due
    )
    callback_requests.tell_live_book(ctx.book, who, body.number, asked, due)
    return {"items": [queries.callback_dict(cb) for cb in changed]}


@router.get("/reports/weekly", response_model=report_data.WeeklyReport)
def weekly_report(
    ctx: Ctx,
    who: ForReports,
    week: Annotated[str, Query(max_length=16, description="ISO week, e.g. 2026-W47")],
    department: DepartmentQ = None,
) -> Any:
    """The weekly report of ``week`` (the site's clock), one department or all. A lead with
    several departments names one."""
    week = week_param(week)
    scope = _department(ctx, who, department)
    if department is None and scope is not None:
        if len(scope) != 1:
            raise BadRequest(f"name one of your departments: department={' or '.join(scope)}")
        department = scope[0]
    store = ctx.need_store()
    return _report(lambda: reports.weekly_report(store, ctx.site, week, department=department))


@router.get(
    "/live",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}, "description": "an endless SSE stream"}},
)
async def live(
    request: Request,
    ctx: Ctx,
    who: ForLive,
    department: DepartmentQ = None,
    kinds: Annotated[
        list[LiveKind] | None,
        Query(description="event, breach, call, callback, ringing (default: event and breach)"),
    ] = None,
    tag: TagQ = "staff",
) -> StreamingResponse:
    """Server-Sent Events: ``event`` and ``breach`` messages as the service judges calls (a
    ``dropped`` message tells a slow reader how many it missed; comments keep the line open).
    Each message's id is ``<epoch>-<n>``: a reader that comes back with the last one in
    ``Last-Event-ID`` gets what it missed first, or a ``reset`` message when that is no longer
    kept (the service restarted, or too much went by)."""
    scope = _department(ctx, who, department)
    wanted = set(kinds or LIVE_KINDS)
    tags: list[str | None] = (
        [None] if tag == "staff" else ["probe"] if tag == "probe" else [None, "probe"]
    )
    after = request.headers.get("last-event-id") or None
    sub = ctx.live.subscribe(scope, wanted, tags, after=after)
    return StreamingResponse(
        live_stream(
            ctx.live,
            sub,
            lambda item: _sse(item.kind, ctx.live.event_id(item), _shown(ctx, who, item.payload)),
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


async def live_stream(
    live: Broadcaster,
    sub: Subscription,
    write: Callable[[LiveItem], str],
    heartbeat: Callable[[], str] = lambda: ": keep-alive\n\n",
) -> AsyncIterator[str]:
    """The SSE text of ``sub``: a ``reset`` message when its catch-up has a gap, the items it
    missed, then live items written by ``write``; ``heartbeat`` when the line is quiet."""
    reported = 0
    try:
        yield "retry: 3000\n: callwatch live feed\n\n"
        if sub.gap:
            yield _sse("reset", live.last_event_id, {"last": live.last_event_id})
        for missed in sub.backlog:
            yield write(missed)
        sub.backlog = []
        while True:
            try:
                item: LiveItem = await asyncio.wait_for(sub.queue.get(), HEARTBEAT_SECONDS)
            except TimeoutError:
                yield heartbeat()
                continue
            yield write(item)
            if sub.queue.empty() and sub.dropped > reported:  # what was lost came after these
                yield _sse("dropped", None, {"dropped": sub.dropped - reported})
                reported = sub.dropped
    finally:
        sub.close()


def _sse(kind: str, ident: str | None, payload: dict[str, Any]) -> str:
    head = f"event: {kind}\n" + ("" if ident is None else f"id: {ident}\n")
    return head + f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


def _report(fn: Any) -> Any:
    try:
        result = fn()
    except StoreUnavailable as exc:
        raise Unavailable(str(exc)) from None
    except StoreError as exc:
        raise Unavailable(f"the store failed: {exc}") from None
    except ReportError as exc:
        raise BadRequest(str(exc)) from None
    return result


def _cursor(key: list[Any] | None) -> str | None:
    return None if key is None else encode_cursor(key)


def _micros(delta: timedelta) -> int:
    return int(delta.total_seconds() * 1_000_000)
