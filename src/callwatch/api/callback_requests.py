"""``POST /api/callbacks``: a caller asked to be called back at a time of their choosing.

The charter's callback book decides what that means (:meth:`CallbackBook.record_request`):
the requested time becomes the deadline of the caller's open or missed callbacks opened by
the time they asked, and a missed one opens again. The book is filled with the callbacks the
store holds (of the token's departments), the changed callbacks are saved back with their
verdicts, and the running service's own book, when there is one, is told too, so its later
news about those callbacks carries the new deadline.

Both books change only the callbacks :func:`request_scope` admits: those of a department the
token may read (:meth:`Principal.may_read`, the one department rule of reads and writes)
whose missed call ended at most :data:`ASK_WINDOW_US` before the request. The times are
bounded (422 otherwise): ``asked_at`` lies between the missed call and now (plus
:data:`CLOCK_SKEW_US`), within :data:`ASK_WINDOW_US` of the missed call; ``due_at`` lies
between ``asked_at`` and :data:`REQUEST_HORIZON_US` after it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from callwatch.api import queries
from callwatch.api.auth import Principal
from callwatch.api.context import ApiContext
from callwatch.api.errors import BadRequest, NotFound, Unprocessable
from callwatch.charter import rules
from callwatch.charter.callbacks import Callback, CallbackBook, normalize_number, same_number
from callwatch.charter.errors import CallbackError
from callwatch.pipeline import CallbackNews
from callwatch.site import SiteConfig
from callwatch.timefmt import MICROS, iso

_DAY_US = 86_400 * MICROS
ASK_WINDOW_US = 14 * _DAY_US
"""How long after a missed call a caller's request may be recorded against it (14 days)."""
REQUEST_HORIZON_US = 14 * _DAY_US
"""How far after the request the requested time may lie (14 days: a long holiday and more)."""
CLOCK_SKEW_US = 5 * 60 * MICROS
"""How far ahead of this server's clock ``asked_at`` may lie (5 minutes)."""


def wall_clock_us() -> int:
    """Now, in microseconds since the epoch (the default time a caller asked)."""
    return time.time_ns() // 1000


def request_scope(principal: Principal, asked_at: int) -> Callable[[Callback], bool]:
    """Which callbacks a request by ``principal`` asked at ``asked_at`` may change: of a
    department the token may read, opened by ``asked_at`` and at most :data:`ASK_WINDOW_US`
    before it."""

    def admits(cb: Callback) -> bool:
        return (
            principal.may_read(cb.department)
            and cb.opened_at <= asked_at <= cb.opened_at + ASK_WINDOW_US
        )

    return admits


def record_request(
    ctx: ApiContext,
    principal: Principal,
    number: str,
    asked_at: int,
    due_at: int,
    now: int | None = None,
) -> list[Callback]:
    """Make ``due_at`` the deadline of ``number``'s waiting callbacks that
    :func:`request_scope` admits; save and return them.

    400: not a callable number, a charter without promised times. 404: no open or missed
    callback for that number opened by then. 422: a time out of bounds.
    """
    store = ctx.need_store()
    wanted = normalize_number(number)
    if wanted is None:
        raise BadRequest(f"number={number!r} is not a callable number")
    waiting = queries.waiting_callbacks(store, principal.scope(None))
    theirs = [cb for cb in waiting if same_number(cb.number, wanted) and cb.opened_at <= asked_at]
    if not theirs:
        raise NotFound(f"no open or missed callback for {number} opened by the time asked")
    now = wall_clock_us() if now is None else now
    if asked_at > now + CLOCK_SKEW_US:
        raise Unprocessable(f"asked_at {iso(asked_at)} is in the future (now is {iso(now)})")
    if due_at < asked_at:
        raise Unprocessable(f"due_at {iso(due_at)} is before asked_at {iso(asked_at)}")
    if due_at > asked_at + REQUEST_HORIZON_US:
        raise Unprocessable(
            f"due_at {iso(due_at)} is more than {REQUEST_HORIZON_US // _DAY_US} days after "
            f"asked_at {iso(asked_at)}"
        )
    scope = request_scope(principal, asked_at)
    if not any(scope(cb) for cb in theirs):
        newest = max(cb.opened_at for cb in theirs)
        raise Unprocessable(
            f"asked_at {iso(asked_at)} is more than {ASK_WINDOW_US // _DAY_US} days after "
            f"the missed call ({iso(newest)})"
        )
    book = _book_holding(ctx.site, waiting)
    try:
        changed = book.record_request(number, asked_at, due_at, within=scope)
    except CallbackError as exc:
        raise BadRequest(str(exc)) from None
    news = [
        CallbackNews(cb, rules.judge_callback(cb, ctx.site.profile_for(cb.department)))
        for cb in changed
    ]
    queries.save_callbacks(store, news)
    return changed


def tell_live_book(
    book: CallbackBook | None, principal: Principal, number: str, asked_at: int, due_at: int
) -> int:
    """Record the same request in the running pipeline's book, within the same
    :func:`request_scope` (call on the service's loop); return how many of its callbacks
    changed (0 when it holds none of them)."""
    if book is None:
        return 0
    try:
        scope = request_scope(principal, asked_at)
        return len(book.record_request(number, asked_at, due_at, within=scope))
    except CallbackError:
        return 0


def _book_holding(site: SiteConfig, callbacks: Sequence[Callback]) -> CallbackBook:
    """A callback book of ``site`` holding ``callbacks`` as the store has them."""
    book = site.callback_book()
    book.restore(callbacks)
    return book
