"""The monitoring banner: the departments whose latest probe call the capture did not confirm
(``missing`` or ``mismatch`` in ``probe_results``). Read from the store, so the banner stays
through a restart and goes once a later probe call of the department is confirmed.

What differed (:class:`callwatch.probe.check.Problem`) is worded here in the viewer's
language (:func:`problem_text`); rows stored before problems were data hold an English
sentence, shown as it is."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from callwatch import i18n
from callwatch.probe import results
from callwatch.probe.alerts import FAILED
from callwatch.probe.check import RING_TOLERANCE_S, Problem
from callwatch.reports.weeks import local_datetime
from callwatch.site import SiteConfig
from callwatch.store import Store, StoreError
from callwatch.web.strings import tr


def banner(
    store: Store, site: SiteConfig, departments: Collection[str], lang: str = "ko"
) -> list[dict[str, Any]]:
    """One entry per department of ``departments`` in alert: its name, the outcome, when the
    probe was placed (site time) and what differed (in ``lang``)."""
    try:
        latest = results.latest(store)
    except StoreError:
        return []
    return [
        {
            "department": name,
            "outcome": r.outcome,
            "when": local_datetime(r.placed_us, site.timezone).strftime("%Y-%m-%d %H:%M"),
            "problems": problem_texts(r.problems, lang),
        }
        for name, r in sorted(latest.items())
        if r.outcome in FAILED and name in departments
    ]


def problem_texts(problems: Iterable[Problem | str], lang: str) -> list[str]:
    """Each problem worded in ``lang`` (an old row's English sentence as it is)."""
    return [problem_text(p, lang) for p in problems]


def problem_text(problem: Problem | str, lang: str) -> str:
    """``problem`` worded in ``lang``: numbers as they are, seconds with their unit, a side
    that did not see an interval as such."""
    if isinstance(problem, str):
        return problem
    code = problem.code
    if code in ("caller", "dialled"):
        return tr(
            f"problem.{code}",
            lang,
            captured=problem.captured or tr("problem.no_number", lang),
            probe=problem.probe or tr("problem.no_number", lang),
        )
    if code == "clock":
        offset = _seconds(problem.captured)
        sign = "+" if offset >= 0 else "-"
        return tr("problem.clock", lang, offset=sign + i18n.seconds_text(abs(offset), lang, 3))
    if problem.captured is None or problem.probe is None:
        return tr(
            f"problem.{code}.one_side",
            lang,
            captured=_side(problem.captured, lang),
            probe=_side(problem.probe, lang),
        )
    return tr(
        f"problem.{code}",
        lang,
        captured=i18n.seconds_text(_seconds(problem.captured), lang, 3),
        probe=i18n.seconds_text(_seconds(problem.probe), lang, 3),
        tolerance=i18n.seconds_text(RING_TOLERANCE_S, lang, 2),
    )


def _seconds(value: str | float | None) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _side(value: str | float | None, lang: str) -> str:
    if value is None:
        return tr("problem.not_seen", lang)
    return tr("problem.seen_at", lang, seconds=i18n.seconds_text(_seconds(value), lang, 3))
