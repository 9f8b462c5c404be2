"""The printed reports' tables as WeasyPrint lays them out: no line break inside a word (Korean
words, phone numbers masked or not), in Korean and English, for the whole office and for one
department (the Call-ID column, a raw identifier, is left out)."""

from __future__ import annotations

import pytest

from callwatch.reports.build import weekly_report
from callwatch.reports.render_html import render_html
from callwatch.reports.render_pdf import keep_words
from pdf_layout import mid_word_breaks
from test_web_support import DemoWorld, make_world, site


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return make_world(tmp_path_factory.mktemp("layout"))


@pytest.mark.parametrize("lang", ["ko", "en"])
@pytest.mark.parametrize("department", [None, "세무"])
def test_no_table_cell_breaks_inside_a_word(
    world: DemoWorld, department: str | None, lang: str
) -> None:
    report = weekly_report(world.store, site(), "2026-W47", department=department)
    html = render_html(report, lang, embed_font_files=True)
    assert "응답 속도" in html or "Answer speed" in html
    assert mid_word_breaks(html) == []


def test_keep_words_wraps_hangul_words_only_in_text() -> None:
    html = '<p title="응답">응답 속도 6 s</p><style>p{}</style><svg><text>벨</text></svg>'
    assert keep_words(html) == (
        '<p title="응답"><span class="kw">응답</span> <span class="kw">속도</span> 6 s</p>'
        "<style>p{}</style><svg><text>벨</text></svg>"
    )
