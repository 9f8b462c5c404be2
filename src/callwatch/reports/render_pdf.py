"""Reports as PDF, printed by WeasyPrint from the HTML of :mod:`.render_html`.

The HTML's ``@font-face`` points at the NanumGothic files shipped in ``koreanize-matplotlib``
so Hangul is drawn with an embedded (subset) Korean font whatever fonts the machine has.
"""

from __future__ import annotations

import logging

from callwatch.reports.data import Achievement, WeeklyReport
from callwatch.reports.errors import RenderError
from callwatch.reports.render_html import (
    DEFAULT_CALL_URL,
    TEMPLATES,
    render_achievement_html,
    render_html,
)


def html_to_pdf(html: str) -> bytes:
    """Print ``html`` to PDF bytes; raises :class:`RenderError` when the engine fails."""
    try:
        from weasyprint import HTML
    except (ImportError, OSError) as exc:  # OSError: Pango or its libraries missing
        raise RenderError(f"the PDF engine (WeasyPrint) is not usable: {exc}") from exc
    quiet = logging.getLogger("weasyprint")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        return HTML(string=html, base_url=str(TEMPLATES)).write_pdf()
    except Exception as exc:  # WeasyPrint raises many kinds; the caller gets one
        raise RenderError(f"cannot print the report as PDF: {exc}") from exc
    finally:
        quiet.setLevel(level)


def render_pdf(
    report: WeeklyReport, lang: str = "ko", *, call_url: str = DEFAULT_CALL_URL
) -> bytes:
    """The weekly report as PDF in ``lang``."""
    return html_to_pdf(render_html(report, lang, call_url=call_url, embed_font_files=True))


def render_achievement_pdf(summary: Achievement, lang: str = "ko") -> bytes:
    """The public achievement summary as PDF in ``lang``."""
    return html_to_pdf(render_achievement_html(summary, lang, embed_font_files=True))
