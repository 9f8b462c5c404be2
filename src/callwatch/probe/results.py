"""Probe results in the store (``probe_results``): written once a probe is checked, read by
the runner (today's calls for the budget and the hourly cap, the alerts in force) and by the
probe page. SQLAlchemy Core on the store's engine; times in µs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, func, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from callwatch.probe.check import ProbeCheck, Problem
from callwatch.probe.uac import ProbeRecord
from callwatch.store import Store, StoreError, StoreUnavailable
from callwatch.store.probe_tables import probe_results
from callwatch.timefmt import utc

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class StoredResult:
    """One stored probe result."""

    sip_call_id: str
    department: str
    number: str
    placed_us: int
    answered: bool
    ring_seconds: float | None
    answer_seconds: float | None
    final_status: int | None
    ended_by: str | None
    outcome: str
    problems: tuple[Problem | str, ...]
    """What differed: :class:`Problem` data; rows written before that hold English text."""
    call_id: str | None
    seen_ring_seconds: float | None
    checked_us: int

    def check(self) -> ProbeCheck:
        """The check this row records (for :meth:`ProbeAlerts.restore`; an older row's English
        problems are left out: the check holds data only)."""
        problems = tuple(p for p in self.problems if isinstance(p, Problem))
        return ProbeCheck(
            call_id=self.sip_call_id, number=self.number, outcome=self.outcome,  # type: ignore[arg-type]
            problems=problems, call=self.call_id, department=self.department,
            probe_ring_s=self.ring_seconds, seen_ring_s=self.seen_ring_seconds,
            probe_answer_s=self.answer_seconds,
        )  # fmt: skip


_COLUMNS = (
    "sip_call_id", "department", "number", "placed_us", "answered", "ring_seconds",
    "answer_seconds", "final_status", "ended_by", "outcome", "problems", "call_id",
    "seen_ring_seconds", "checked_us",
)  # fmt: skip


def save_result(
    store: Store, department: str, record: ProbeRecord, check: ProbeCheck, checked_at: int
) -> None:
    """Write (or replace) the result of one probe call."""
    row: dict[str, Any] = {
        "sip_call_id": record.call_id,
        "site": store.site,
        "department": department,
        "number": record.number,
        "placed_at": utc(record.invite_at),
        "placed_us": record.invite_at,
        "answered": record.answered_at is not None,
        "ring_seconds": record.ring_seconds,
        "answer_seconds": record.answer_seconds,
        "final_status": record.final_status,
        "ended_by": record.ended_by,
        "outcome": check.outcome,
        "problems": [p.to_dict() for p in check.problems],
        "call_id": check.call,
        "seen_ring_seconds": check.seen_ring_s,
        "checked_at": utc(checked_at),
        "checked_us": checked_at,
        "record": record.to_dict(),
    }

    def write() -> None:
        with store.engine.begin() as conn:
            p = probe_results.c
            conn.execute(delete(probe_results).where(p.sip_call_id == record.call_id))
            conn.execute(probe_results.insert(), [row])

    _guard(write)


def results(store: Store, since: int | None = None, until: int | None = None) -> list[StoredResult]:
    """The site's probe results placed in ``[since, until)``, oldest first."""
    p = probe_results.c
    query = (
        select(*(p[name] for name in _COLUMNS))
        .where(p.site == store.site)
        .order_by(p.placed_us, p.sip_call_id)
    )
    if since is not None:
        query = query.where(p.placed_us >= since)
    if until is not None:
        query = query.where(p.placed_us < until)
    return [_result(row) for row in _rows(store, query)]


def latest(store: Store) -> dict[str, StoredResult]:
    """The newest probe result of each department of the site."""
    p = probe_results.c
    newest = (
        select(p.department, func.max(p.placed_us).label("at"))
        .where(p.site == store.site)
        .group_by(p.department)
        .subquery()
    )
    query = (
        select(*(p[name] for name in _COLUMNS))
        .join(newest, (p.department == newest.c.department) & (p.placed_us == newest.c.at))
        .where(p.site == store.site)
        .order_by(p.placed_us)
    )
    return {r.department: r for r in map(_result, _rows(store, query))}


def placed(store: Store, since: int) -> list[tuple[int, str]]:
    """``(placed µs, department)`` of the probe calls placed since ``since`` (the planner's
    ``made``: the daily budget and the hourly cap hold across a restart)."""
    return [(r.placed_us, r.department) for r in results(store, since)]


def _rows(store: Store, query: Any) -> list[Any]:
    def read() -> list[Any]:
        with store.engine.connect() as conn:
            return list(conn.execute(query).all())

    return _guard(read)


def _guard(fn: Callable[[], _T]) -> _T:
    """``fn()``, database errors raised as the store's (:class:`StoreUnavailable` when it
    cannot be reached)."""
    try:
        return fn()
    except (OperationalError, InterfaceError) as exc:
        raise StoreUnavailable(f"database unavailable: {exc.orig or exc}") from exc
    except DBAPIError as exc:
        raise StoreError(f"database error: {exc.orig or exc}") from exc


def _result(row: Sequence[Any]) -> StoredResult:
    values = dict(zip(_COLUMNS, row, strict=True))
    values["answered"] = bool(values["answered"])
    values["problems"] = tuple(Problem.from_stored(p) for p in values["problems"] or ())
    return StoredResult(**values)
