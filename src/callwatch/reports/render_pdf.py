"""Reports as PDF, printed by WeasyPrint from the HTML of :mod:`.render_html`.

The HTML's ``@font-face`` points at the NanumGothic files shipped in ``koreanize-matplotlib``
so Hangul is drawn with an embedded (subset) Korean font whatever fonts the machine has.

WeasyPrint breaks Hangul between any two syllables (it has no ``word-break: keep-all``), so
before printing :func:`keep_words` wraps each word that holds Hangul in a ``nowrap`` span:
lines then break between Korean words, as they do in a browser, never inside one.
"""

from __future__ import annotations

import logging
import re

from callwatch.reports.data import Achievement, WeeklyReport
from callwatch.reports.errors import RenderError
from callwatch.reports.render_html import (
    DEFAULT_CALL_URL,
    TEMPLATES,
    render_achievement_html,
    render_html,
)

_TAG = re.compile(r"(<[^>]*>)")
_HANGUL_WORD = re.compile(r"[^\s<>]*[\uac00-\ud7a3][^\s<>]*")
_RAW = ("style", "svg", "title", "script")


def keep_words(html: str) -> str:
    """``html`` with each text word that holds Hangul wrapped in ``<span class="kw">`` (the
    report's CSS keeps it on one line); text inside ``style``, ``svg``, ``title`` and
    ``script`` is left as it is."""
    out = []
    raw: str | None = None
    for part in _TAG.split(html):
        if part.startswith("<"):
            name = part[1:].lstrip("/").split(None, 1)[0].rstrip(">/").lower() if part[1:] else ""
            if raw is None and name in _RAW and not part.startswith("</"):
                raw = name
            elif raw == name and part.startswith("</"):
                raw = None
            out.append(part)
        elif raw is None:
            out.append(_HANGUL_WORD.sub(r'<span class="kw">\g<0></span>', part))
        else:
            out.append(part)
    return "".join(out)


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
        return HTML(string=keep_words(html), base_url=str(TEMPLATES)).write_pdf()
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
