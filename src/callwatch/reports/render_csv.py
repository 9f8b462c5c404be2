"""Reports as CSV for spreadsheets: UTF-8 with a byte-order mark (so Excel reads Hangul),
one file per table: department × rule, extensions, and callwatch's own probe calls (apart from
the staff figures; :func:`probes_csv`).

Column names are fixed English identifiers in every language; values that are words (rule
names, statuses) are in the report's language. Rates are percentages with one decimal; the
status of a rule is "kept" (every judged call kept it), "breached" (at least one did not), "no
calls judged", or "not part of this charter" (with an empty rate). A report of a date range
has the ISO 8601 interval (``2026-11-02/2026-11-20``) in its ``week`` column.
Every cell goes through :func:`callwatch.store.export.spreadsheet_cell` (a value that starts
like a formula is written as text).
"""

from __future__ import annotations

import csv
import io

from callwatch.i18n import RULES, normalize_lang, t
from callwatch.reports.data import ALL, Achievement, WeeklyReport
from callwatch.store.export import spreadsheet_cell

BOM = "\ufeff"

RULE_FIELDS = (
    "week",
    "department",
    "department_en",
    "charter",
    "rule",
    "rule_name",
    "status",
    "promise",
    "offered",
    "answered",
    "missed",
    "passed",
    "failed",
    "pass_rate_pct",
    "previous_pass_rate_pct",
    "change_pts",
    "ring_median_s",
    "ring_p90_s",
    "transfers",
    "transfer_median_s",
    "transfer_p90_s",
    "callbacks_kept",
    "callbacks_late",
    "callbacks_missed",
    "callbacks_open",
)


def _extension_fields() -> tuple[str, ...]:
    """The columns of :func:`extensions_csv`: one ``breaches_<rule>`` per registered rule."""
    rules = (f"breaches_{rule}" for rule in RULES)
    return (
        "week",
        "department",
        "extension",
        "answered",
        "ring_median_s",
        *rules,
        "breaches_total",
    )


EXTENSION_FIELDS = _extension_fields()
"""The columns of :func:`extensions_csv` for the rules registered at import."""

ACHIEVEMENT_FIELDS = (
    "period",
    "department",
    "department_en",
    "charter",
    "rule",
    "rule_name",
    "status",
    "promise",
    "pass_rate_pct",
    "judged",
)


PROBE_FIELDS = (
    "week",
    "department",
    "department_en",
    "placed",
    "answered",
    "within",
    "allowed_rings",
    "within_pct",
    "median_rings",
    "ringback_median_s",
    "check_ok",
    "check_mismatch",
    "check_missing",
    "check_error",
)


def rules_csv(report: WeeklyReport, lang: str = "ko") -> str:
    """One row per department and rule (and the site-wide total when the report has one)."""
    lang = normalize_lang(lang)
    parts = [d.compliance for d in report.departments]
    if report.total is not None:
        parts.append(report.total)
    rows = []
    for c in parts:
        for r in c.rules:
            status = _status(r.in_charter, r.rate, lang)
            rows.append(
                {
                    "week": report.week,
                    "department": _dept(c.department, lang),
                    "department_en": c.name_en or "",
                    "charter": c.charter,
                    "rule": r.rule,
                    "rule_name": t(f"rule.{r.rule}", lang),
                    "status": status,
                    "promise": r.promise.ko if lang == "ko" else r.promise.en,
                    "offered": c.volume.offered,
                    "answered": c.volume.answered,
                    "missed": c.volume.missed,
                    "passed": r.passed,
                    "failed": r.failed,
                    "pass_rate_pct": _pct(r.rate),
                    "previous_pass_rate_pct": _pct(r.previous_rate),
                    "change_pts": "" if r.change is None else f"{r.change:.1f}",
                    "ring_median_s": _sec(c.ring.median),
                    "ring_p90_s": _sec(c.ring.p90),
                    "transfers": c.transfer.count,
                    "transfer_median_s": _sec(c.transfer.median),
                    "transfer_p90_s": _sec(c.transfer.p90),
                    "callbacks_kept": c.callbacks.kept,
                    "callbacks_late": c.callbacks.late,
                    "callbacks_missed": c.callbacks.missed,
                    "callbacks_open": c.callbacks.open,
                }
            )
    return _write(RULE_FIELDS, rows)


def extensions_csv(report: WeeklyReport, lang: str = "ko") -> str:
    """One row per department and extension (unanswered calls in their own row)."""
    lang = normalize_lang(lang)
    rows = []
    for d in report.departments:
        for e in d.extensions:
            row = {
                "week": report.week,
                "department": _dept(d.compliance.department, lang),
                "extension": e.extension
                if e.extension is not None
                else t("report.unanswered", lang),
                "answered": e.answered,
                "ring_median_s": _sec(e.median_ring),
                "breaches_total": e.total_breaches,
            }
            row.update({f"breaches_{rule}": e.breaches.get(rule, 0) for rule in RULES})
            rows.append(row)
    return _write(_extension_fields(), rows)


def probes_csv(report: WeeklyReport, lang: str = "ko") -> str:
    """One row per department with probe calls: placed, answered, answered within the
    charter's rings as the probe heard them, median rings heard, the capture checks."""
    lang = normalize_lang(lang)
    rows = [
        {
            "week": report.week,
            "department": _dept(p.department, lang),
            "department_en": p.name_en or "",
            "placed": p.placed,
            "answered": p.answered,
            "within": p.within,
            "allowed_rings": "" if p.allowed_rings is None else p.allowed_rings,
            "within_pct": _pct(p.within_rate),
            "median_rings": "" if p.median_rings is None else f"{p.median_rings:g}",
            "ringback_median_s": _sec(p.ring.median),
            "check_ok": p.checks.ok,
            "check_mismatch": p.checks.mismatch,
            "check_missing": p.checks.missing,
            "check_error": p.checks.error,
        }
        for p in report.probes
    ]
    return _write(PROBE_FIELDS, rows)


def achievement_csv(summary: Achievement, lang: str = "ko") -> str:
    """The public summary: one row per department and rule, rates only."""
    lang = normalize_lang(lang)
    rows = [
        {
            "period": summary.period,
            "department": _dept(d.department, lang),
            "department_en": d.name_en or "",
            "charter": d.charter_name[lang],
            "rule": r.rule,
            "rule_name": t(f"rule.{r.rule}", lang),
            "status": _status(r.in_charter, r.rate, lang),
            "promise": r.promise.ko if lang == "ko" else r.promise.en,
            "pass_rate_pct": _pct(r.rate),
            "judged": r.judged,
        }
        for d in summary.departments
        for r in d.rules
    ]
    return _write(ACHIEVEMENT_FIELDS, rows)


def _write(fields: tuple[str, ...], rows: list[dict]) -> str:
    buf = io.StringIO()
    buf.write(BOM)
    writer = csv.DictWriter(buf, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows({k: spreadsheet_cell(v) for k, v in row.items()} for row in rows)
    return buf.getvalue()


def _status(in_charter: bool, rate: float | None, lang: str) -> str:
    if not in_charter:
        return t("status.not_in_charter", lang)
    if rate is None:
        return t("status.no_calls", lang)
    return t("status.pass" if rate >= 1.0 else "status.fail", lang)


def _dept(name: str | None, lang: str) -> str:
    if name == ALL:
        return t("report.all_departments", lang)
    return name if name is not None else t("report.no_department", lang)


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


def _sec(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"
