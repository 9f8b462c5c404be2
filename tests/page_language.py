"""A checker for the language of a rendered page: it walks the HTML text a reader sees (text
nodes, ``<title>``, and the attributes a browser or script shows: ``title``, ``alt``,
``aria-label``, ``placeholder``, ``data-play``, …) and reports what is in the wrong language.

On a Korean page: every ASCII word that is not in :data:`ALLOWED` (proper nouns and SIP or file
format names) nor SIP's ``Call-ID``. On an English page: every Hangul syllable. Skipped, as
data rather than wording: ``<script>``, ``<style>``, ``<pre>``, ``<code>``, SVG ``<metadata>``,
anything marked ``translate="no"`` (Call-IDs, the SIP ladder, the site's name and time zone, a
time's zone abbreviation), and anything in another ``lang`` (the charter's own Korean quoted on
an English page, the language switch). ``proper`` names further strings to blank out (a
Call-ID in a ``<title>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

ALLOWED = frozenset(
    {
        # SIP and telephony terms as the signalling spells them
        "SIP", "BYE", "INVITE", "ACK", "CANCEL", "REFER", "PBX", "ARS", "IVR",
        # formats offered for download
        "PDF", "HTML", "CSV", "XLSX",
    }
)  # fmt: skip
"""ASCII words allowed on a Korean page."""

SHOWN_ATTRIBUTES = (
    "title",
    "alt",
    "aria-label",
    "placeholder",
    "data-play",
    "data-pause",
    "data-ring-label",
    "data-seconds-label",
    "data-label",
)
"""Attributes whose value a reader sees (a tooltip, a label a script or the style sheet puts on
the page)."""

_SKIPPED_TAGS = {"script", "style", "pre", "code", "metadata"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source",
         "track", "wbr"}  # fmt: skip
_PLACEHOLDER = re.compile(r"\{\w+\}")
_ISO_WEEK = re.compile(r"\b\d{4}-W\d{2}\b")
_POINTS = re.compile(r"(?<=\d)%p\b")
_SIP_TEXT = re.compile(r"(?<![A-Za-z0-9])Call-ID(?![A-Za-z0-9])")  # SIP's header, as quoted
_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]+(?![A-Za-z])")
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]+")


@dataclass(frozen=True)
class Finding:
    """A word in the wrong language and where it was (the text around it)."""

    word: str
    context: str


class _Walker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page_lang = ""
        self.stack: list[tuple[str, bool]] = []
        self.texts: list[str] = []

    def _skipping(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def _skip(self, tag: str, attrs: dict[str, str | None]) -> bool:
        lang = attrs.get("lang")
        return (
            self._skipping()
            or tag in _SKIPPED_TAGS
            or attrs.get("translate") == "no"
            or (lang is not None and bool(self.page_lang) and lang != self.page_lang)
        )

    def handle_starttag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attr_list)
        if tag == "html":
            self.page_lang = attrs.get("lang") or ""
        skip = self._skip(tag, attrs)
        if not skip:
            self.texts += [attrs[a] or "" for a in SHOWN_ATTRIBUTES if attrs.get(a)]
        if tag not in _VOID:
            self.stack.append((tag, skip))

    def handle_startendtag(self, tag: str, attr_list: list[tuple[str, str | None]]) -> None:
        attrs = dict(attr_list)
        if not self._skip(tag, attrs):
            self.texts += [attrs[a] or "" for a in SHOWN_ATTRIBUTES if attrs.get(a)]

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                return

    def handle_data(self, data: str) -> None:
        if not self._skipping() and data.strip():
            self.texts.append(data)


def shown_texts(html: str) -> tuple[str, list[str]]:
    """The page's language (``<html lang>``) and the texts a reader sees, in page order."""
    walker = _Walker()
    walker.feed(html)
    walker.close()
    return walker.page_lang, walker.texts


def wrong_language(html: str, proper: tuple[str, ...] = ()) -> list[Finding]:
    """What is in the wrong language on the page ``html`` (see the module's docstring)."""
    lang, texts = shown_texts(html)
    found = []
    for text in texts:
        for name in filter(None, proper):
            text = text.replace(name, " ")
        if lang == "en":
            hits = [m for m in _HANGUL.finditer(text)]
        else:
            text = _POINTS.sub(" ", _ISO_WEEK.sub(" ", _PLACEHOLDER.sub(" ", text)))
            text = _SIP_TEXT.sub(" ", text)
            hits = [m for m in _WORD.finditer(text) if m.group() not in ALLOWED]
        for m in hits:
            found.append(Finding(m.group(), " ".join(text.split())[:120]))
    return found
