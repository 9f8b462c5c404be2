"""Reports as one self-contained HTML file: inline CSS, inline SVG charts, no scripts and no
external resources. The PDF is printed from this same HTML (:mod:`.render_pdf`).

Links to calls use ``call_url`` (default ``/calls/{id}``, the call page of ``callwatch
serve``); give an absolute base (``http://host:8080/calls/{id}``) for files mailed around.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from callwatch.charter.registry import RULE_NAMES
from callwatch.i18n import limit, measure, normalize_lang, points, rings, seconds_text, t
from callwatch.reports import charts
from callwatch.reports.data import (
    ALL,
    CALLBACK_STATUSES,
    PROBE_CHECKS,
    Achievement,
    Compliance,
    WeeklyReport,
)

DEFAULT_CALL_URL = "/calls/{id}"
TEMPLATES = Path(__file__).resolve().parent / "templates"


@functools.cache
def _environment() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render_html(
    report: WeeklyReport,
    lang: str = "ko",
    *,
    call_url: str = DEFAULT_CALL_URL,
    embed_font_files: bool = False,
) -> str:
    """The weekly report as HTML in ``lang`` (``ko`` default, ``en``). ``embed_font_files``
    points ``@font-face`` at the NanumGothic files on this machine (for the PDF engine)."""
    lang = normalize_lang(lang)
    drawn = [
        {
            "rules": charts.rules_chart(d.compliance.rules, lang),
            "rings": charts.ring_chart(d.ring_bins, lang, d.compliance.answer_before_ring),
            "hours": charts.hour_chart(d.by_hour, lang),
        }
        for d in report.departments
    ]
    title = t("report.title.weekly" if report.kind == "week" else "report.title.period", lang)
    week = report.kind == "week"
    return (
        _environment()
        .get_template("weekly.html.j2")
        .render(
            report=report,
            charts=drawn,
            title=title,
            period=_period(report.start_local, report.end_local),
            rules=RULE_NAMES,
            callback_statuses=CALLBACK_STATUSES,
            probe_checks=PROBE_CHECKS,
            probe_failed=any(p.checks.mismatch or p.checks.missing for p in report.probes),
            call_link=lambda call_id: call_url.format(id=quote(call_id, safe="")),
            prev_label=t("report.previous_week" if week else "report.previous_period", lang),
            vs_label=t("report.week_over_week" if week else "report.period_over_period", lang),
            footer=_css_string(f"callwatch · {report.site} · {report.week}"),
            **_helpers(lang, embed_font_files),
        )
    )


def render_achievement_html(
    summary: Achievement, lang: str = "ko", *, embed_font_files: bool = False
) -> str:
    """The public 이행기준 달성도 as HTML: promises and rates, no personal data."""
    lang = normalize_lang(lang)
    return (
        _environment()
        .get_template("achievement.html.j2")
        .render(
            summary=summary,
            title=t("report.title.achievement", lang),
            period=_period(summary.start_local, summary.end_local),
            footer=_css_string(f"{summary.site} · {summary.period}"),
            **_helpers(lang, embed_font_files),
        )
    )


def font_face_sources(embed_font_files: bool) -> dict[str, str]:
    """CSS ``src`` values of the regular and bold NanumGothic faces."""
    files = charts.font_files() if embed_font_files else {}
    out = {}
    for weight in ("regular", "bold"):
        local = 'local("NanumGothic"), local("Nanum Gothic")'
        if weight == "bold":
            local = 'local("NanumGothic Bold"), local("NanumGothicBold")'
        path = files.get(weight)
        out[weight] = f'url("{path.as_uri()}") format("truetype")' if path else local
    return {k: Markup(v) for k, v in out.items()}  # built here from file paths


def _helpers(lang: str, embed_font_files: bool) -> dict[str, Any]:
    return {
        "lang": lang,
        "t": lambda key, **params: t(key, lang, **params),
        "pct": _pct,
        "pts": lambda v: points(v, lang),
        "trend": lambda v: "" if not v else ("up" if v > 0 else "down"),
        "secs": lambda v: "—" if v is None else seconds_text(v, lang),
        "rings": lambda v: "—" if v is None else rings(v, lang),
        "num": _num,
        "dept_name": lambda c: _department_name(c, lang),
        "measured": lambda b: measure(b.rule, b.measured, lang, b.rings),
        "limit": lambda b: limit(b.rule, b.limit, lang, b.limit_rings),
        "font_src": font_face_sources(embed_font_files),
    }


def _css_string(text: str) -> Markup:
    """``text`` as the inside of a double-quoted CSS string in a ``<style>`` element."""
    escaped = "".join(c if c.isalnum() or c in " ·-_.:/" else f"\\{ord(c):x} " for c in text)
    return Markup(escaped)  # every other character escaped


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _period(start_local: str, end_local: str) -> str:
    from datetime import datetime, timedelta

    start = datetime.fromisoformat(start_local)
    last = datetime.fromisoformat(end_local) - timedelta(seconds=1)
    return f"{start:%Y-%m-%d} – {last:%Y-%m-%d}"


def _department_name(c: Compliance | Any, lang: str) -> str:
    if c.department == ALL:
        return t("report.all_departments", lang)
    if c.department is None:
        return t("report.no_department", lang)
    if lang == "en" and c.name_en:
        return f"{c.name_en} ({c.department})"
    return c.department
