"""The facts a report needs, read from the store's tables with SQLAlchemy Core.

Everything is bounded by a period ``[start, end)`` in capture microseconds on the calls'
``started_us`` (a callback verdict counts with its missed call, as in
:meth:`Store.verdict_counts`; callbacks themselves count by the time they opened). Counting is
done by the database where it is a plain ``GROUP BY``; medians, percentiles, ring bins and
hours of day are computed in Python by :mod:`callwatch.reports.data` from slim rows, so SQLite
and PostgreSQL give the same figures. Calls tagged (``calls.tag``: callwatch's own probe
calls) and the callbacks they opened are left out: they never count against staff.

The queries lean on the store's indexes ``ix_calls_site_started`` and
``ix_calls_department_started`` and the verdicts' primary key ``(call_id, ...)``; on
PostgreSQL the read transaction lowers ``random_page_cost`` so that the planner keeps using
that key as the history grows (see ``bench/report.py``: 1,000,000 calls).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Engine, and_, exists, func, or_, select
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from callwatch.store import tables
from callwatch.store.errors import StoreError, StoreUnavailable
from callwatch.store.probe_tables import probe_results
from callwatch.store.store import Store

_T = TypeVar("_T")


@dataclass(frozen=True, slots=True)
class CallFacts:
    """One inbound customer call, as much as the figures need."""

    department: str | None
    started_us: int
    ring_seconds: float | None
    missed: bool
    answered_by: str | None


@dataclass(frozen=True, slots=True)
class VerdictTally:
    """How many verdicts of ``rule`` came out ``ok`` (or not) for the calls of ``department``
    answered by ``extension`` (None: unanswered)."""

    department: str | None
    extension: str | None
    rule: str
    ok: bool
    count: int


@dataclass(frozen=True, slots=True)
class TransferTime:
    """One judged transfer: seconds from its start to the target's answer."""

    department: str | None
    seconds: float


@dataclass(frozen=True, slots=True)
class CallbackTally:
    """How many callbacks of ``department`` opened in the period have ``status``."""

    department: str | None
    status: str
    count: int


@dataclass(frozen=True, slots=True)
class BreachFacts:
    """One failed verdict with the call it judged (``caller`` is the raw stored number)."""

    call_id: str
    department: str | None
    started_us: int
    extension: str | None
    caller: str | None
    rule: str
    measured: float | None
    limit: float | None
    unit: str
    rings: int | None
    limit_rings: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class PeriodFacts:
    """Everything read for one period (``details`` False: calls and verdict tallies only)."""

    start_us: int
    end_us: int
    calls: list[CallFacts]
    verdicts: list[VerdictTally]
    transfers: list[TransferTime]
    callbacks: list[CallbackTally]
    breaches: list[BreachFacts]
    details: bool = True


def fetch_period(
    source: Store | Engine,
    site: str,
    start_us: int,
    end_us: int,
    *,
    department: str | None = None,
    departments: Collection[str] = (),
    details: bool = True,
) -> PeriodFacts:
    """Read the facts of the site's calls begun in ``[start_us, end_us)`` (of ``department``
    only, when given). ``departments`` names the site's departments: callbacks carry no site,
    so they are counted for these. Raises :class:`StoreUnavailable` when the database cannot
    be reached and :class:`StoreError` on other database errors."""
    engine = source.engine if isinstance(source, Store) else source
    c = tables.calls.c
    # probe calls (tagged) never count against staff: they have a page of their own
    where = [c.site == site, c.started_us >= start_us, c.started_us < end_us, c.tag.is_(None)]
    if department is not None:
        where.append(c.department == department)
    inbound = and_(*where, c.direction == "inbound")

    def read(conn: Connection) -> PeriodFacts:
        if conn.dialect.name == "postgresql":
            # A week's calls are a thin slice of the history: joining them to their verdicts
            # by the verdicts' primary key beats hashing the whole verdicts table, but
            # PostgreSQL's default page costs (made for spinning disks) pick the hash join
            # once the history is large. Lowered for this read transaction only.
            conn.exec_driver_sql("SET LOCAL random_page_cost = 1.1")
        calls = [
            CallFacts(d, s, r, bool(m), a)
            for d, s, r, m, a in conn.execute(
                select(c.department, c.started_us, c.ring_seconds, c.missed, c.answered_by).where(
                    inbound
                )
            )
        ]
        verdicts = _verdict_tallies(conn, where)
        if not details:
            return PeriodFacts(start_us, end_us, calls, verdicts, [], [], [], details=False)
        scope = [department] if department is not None else list(departments)
        transfers, breaches = _details(conn, where)
        callbacks = _callbacks(conn, start_us, end_us, scope)
        return PeriodFacts(start_us, end_us, calls, verdicts, transfers, callbacks, breaches)

    return _guard(engine, read)


@dataclass(frozen=True, slots=True)
class ProbeFacts:
    """One probe call callwatch placed (``probe_results``): what the probe heard and whether
    the capture confirmed it (``outcome``: ``ok``, ``mismatch``, ``missing``, ``error``)."""

    department: str
    placed_us: int
    answered: bool
    ring_seconds: float | None
    outcome: str


def fetch_probes(
    source: Store | Engine,
    site: str,
    start_us: int,
    end_us: int,
    *,
    department: str | None = None,
) -> list[ProbeFacts]:
    """The site's probe calls placed in ``[start_us, end_us)`` (of ``department`` only, when
    given), oldest first. Raises as :func:`fetch_period` does."""
    engine = source.engine if isinstance(source, Store) else source
    p = probe_results.c
    query = (
        select(p.department, p.placed_us, p.answered, p.ring_seconds, p.outcome)
        .where(p.site == site, p.placed_us >= start_us, p.placed_us < end_us)
        .order_by(p.placed_us, p.sip_call_id)
    )
    if department is not None:
        query = query.where(p.department == department)

    def read(conn: Connection) -> list[ProbeFacts]:
        return [ProbeFacts(d, s, bool(a), r, o) for d, s, a, r, o in conn.execute(query)]

    return _guard(engine, read)


def _verdict_tallies(conn: Connection, where: list[Any]) -> list[VerdictTally]:
    v, c = tables.verdicts.c, tables.calls.c
    query = (
        select(c.department, c.answered_by, v.rule, v.ok, func.count())
        .join_from(tables.calls, tables.verdicts, v.call_id == c.id)
        .where(*where)
        .group_by(c.department, c.answered_by, v.rule, v.ok)
    )
    return [VerdictTally(d, a, r, bool(ok), n) for d, a, r, ok, n in conn.execute(query)]


def _callbacks(
    conn: Connection, start_us: int, end_us: int, departments: list[str]
) -> list[CallbackTally]:
    if not departments:
        return []
    cb, c = tables.callbacks.c, tables.calls.c
    probe = exists().where(c.id == cb.call_id, c.tag.is_not(None))
    query = (
        select(cb.department, cb.status, func.count())
        .where(cb.opened_us >= start_us, cb.opened_us < end_us, cb.department.in_(departments))
        .where(~probe)
        .group_by(cb.department, cb.status)
    )
    return [CallbackTally(d, s, n) for d, s, n in conn.execute(query)]


def _details(conn: Connection, where: list[Any]) -> tuple[list[TransferTime], list[BreachFacts]]:
    """Failed verdicts (with their calls) and transfer times, in one pass over the period's
    verdicts. One condition on two columns keeps the planner on the verdicts' primary key: a
    lone ``rule = 'transfer'`` would send it through every transfer of the history."""
    v, c = tables.verdicts.c, tables.calls.c
    query = (
        select(
            c.id,
            c.department,
            c.started_us,
            c.answered_by,
            c.caller,
            v.rule,
            v.measured,
            v.limit,
            v.unit,
            v.rings,
            v.limit_rings,
            v.detail,
            v.ok,
        )
        .join_from(tables.calls, tables.verdicts, v.call_id == c.id)
        .where(*where, or_(v.ok.is_(False), v.rule == "transfer"))
        .order_by(c.started_us, c.id, v.source, v.position)
    )
    transfers: list[TransferTime] = []
    breaches: list[BreachFacts] = []
    for *row, ok in conn.execute(query):
        if row[5] == "transfer" and row[6] is not None:
            transfers.append(TransferTime(row[1], float(row[6])))
        if not ok:
            breaches.append(BreachFacts(*row))
    return transfers, breaches


def _guard(engine: Engine, read: Callable[[Connection], _T]) -> _T:
    try:
        with engine.connect() as conn:
            return read(conn)
    except (OperationalError, InterfaceError) as exc:
        raise StoreUnavailable(f"database unavailable: {_reason(exc)}") from exc
    except DBAPIError as exc:
        raise StoreError(f"database error: {_reason(exc)}") from exc


def _reason(exc: DBAPIError) -> str:
    return str(exc.orig).strip().splitlines()[0] if exc.orig is not None else str(exc)
