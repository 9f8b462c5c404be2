"""``POST /api/callbacks``: a caller asked to be called back at a time of their choosing.

The charter's callback book decides what that means (:meth:`CallbackBook.record_request`):
the requested time becomes the deadline of the caller's open or missed callbacks opened by
the time they asked, and a missed one opens again. The book is filled with the callbacks the
store holds (of the token's departments), the changed callbacks are saved back with their
verdicts, and the running service's own book, when there is one, is told too, so its later
news about those callbacks carries the new deadline.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from callwatch.api import queries
from callwatch.api.auth import Principal
from callwatch.api.context import ApiContext
from callwatch.api.errors import BadRequest, NotFound
from callwatch.charter import rules
from callwatch.charter.callbacks import Callback, CallbackBook, normalize_number, same_number
from callwatch.charter.errors import CallbackError
from callwatch.pipeline import CallbackNews
from callwatch.site import SiteConfig


def wall_clock_us() -> int:
    """Now, in microseconds since the epoch (the default time a caller asked)."""
    return time.time_ns() // 1000


def record_request(
    ctx: ApiContext, principal: Principal, number: str, asked_at: int, due_at: int
) -> list[Callback]:
    """Make ``due_at`` the deadline of ``number``'s waiting callbacks opened by ``asked_at``
    (within the departments ``principal`` may read); save and return them.

    400: not a callable number, a time before the missed call, a charter without promised
    times. 404: no open or missed callback for that number opened by then.
    """
    store = ctx.need_store()
    wanted = normalize_number(number)
    if wanted is None:
        raise BadRequest(f"number={number!r} is not a callable number")
    waiting = queries.waiting_callbacks(store, principal.scope(None))
    if not any(same_number(cb.number, wanted) and cb.opened_at <= asked_at for cb in waiting):
        raise NotFound(f"no open or missed callback for {number} opened by the time asked")
    book = _book_holding(ctx.site, waiting)
    try:
        changed = book.record_request(number, asked_at, due_at)
    except CallbackError as exc:
        raise BadRequest(str(exc)) from None
    news = [
        CallbackNews(cb, rules.judge_callback(cb, ctx.site.profile_for(cb.department)))
        for cb in changed
    ]
    queries.save_callbacks(store, news)
    return changed


def tell_live_book(book: CallbackBook | None, number: str, asked_at: int, due_at: int) -> int:
    """Record the same request in the running pipeline's book (call on the service's loop);
    return how many of its callbacks changed (0 when it holds none of them)."""
    if book is None:
        return 0
    try:
        return len(book.record_request(number, asked_at, due_at))
    except CallbackError:
        return 0


def _book_holding(site: SiteConfig, callbacks: Sequence[Callback]) -> CallbackBook:
    """A callback book of ``site`` holding ``callbacks`` as the store has them."""
    book = site.callback_book()
    book.restore(callbacks)
    return book
