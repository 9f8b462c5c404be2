"""Where a PDF printed by WeasyPrint breaks the lines of its table cells: the layout WeasyPrint
computed (its boxes), compared with each cell's own text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CellBreak:
    """A table cell whose text a line break cut inside a word: the cell's lines."""

    tag: str
    lines: tuple[str, ...]


_BLOCKS = {"div", "p", "br", "ul", "ol", "li", "table", "tr"}


def _text(element: Any) -> str:
    """An element's text, with a space where a block element begins or ends."""
    parts = [element.text or ""]
    for child in element:
        gap = " " if child.tag in _BLOCKS else ""
        parts += [gap, _text(child), gap, child.tail or ""]
    return "".join(parts)


def _walk(box: Any) -> Iterator[Any]:
    yield box
    for child in getattr(box, "children", None) or []:
        yield from _walk(child)


def mid_word_breaks(html: str, skip_class: str = "callid") -> list[CellBreak]:
    """Every table cell of the printed ``html`` with a line break inside a word (not at a
    space): ``응답 속/도``, ``010-/****-8119``. Cells of class ``skip_class`` are left out."""
    from weasyprint import HTML
    from weasyprint.formatting_structure import boxes

    from callwatch.reports.render_pdf import TEMPLATES, keep_words

    document = HTML(string=keep_words(html), base_url=str(TEMPLATES)).render()
    found = []
    for page in document.pages:
        for box in _walk(page._page_box):
            if not isinstance(box, boxes.TableCellBox):
                continue
            if skip_class in (box.element.get("class") or "").split():
                continue
            lines = [
                " ".join(
                    "".join(t.text for t in _walk(line) if isinstance(t, boxes.TextBox)).split()
                )
                for line in _walk(box)
                if isinstance(line, boxes.LineBox)
            ]
            lines = [line for line in lines if line]
            text = " ".join(_text(box.element).split())
            pos = 0
            for line in lines[:-1]:
                at = text.find(line, pos)
                if at < 0:
                    break
                pos = at + len(line)
                if pos < len(text) and text[pos] != " ":
                    found.append(CellBreak(box.element_tag, tuple(lines)))
                    break
    return found
