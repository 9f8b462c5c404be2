"""The pages' layout in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright)
at 1366 px and 390 px, in Korean and English, as admin, lead and trainer: the page never
scrolls sideways (``scrollWidth <= innerWidth``); no heading, header cell or table cell breaks
a line inside a word (each line break falls on a space, or after a hyphen between English
letters, measured character by character with DOM ranges); numbers, times and phone numbers
(``010-****-8119``) stay on one line; and no page shows a word in the other language
(:mod:`page_language`, on the DOM the browser built). A full-page screenshot of each page goes
to a temporary folder (its path is printed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from page_language import wrong_language
from test_web_browser import CHROMIUM, browser, server, world  # noqa: F401 (fixtures)
from test_web_language import breach_calls
from test_web_support import DemoWorld

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
)

WIDTHS = (1366, 390)

BROKEN_WORDS = """(selector) => {
  const broken = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!el.getClientRects().length || el.closest('[translate="no"], svg, pre')) continue;
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let top = null, last = " ", node;
    search: while ((node = walker.nextNode())) {
      if (node.parentElement.closest('[translate="no"], svg')) continue;
      for (let i = 0; i < node.data.length; i++) {
        const ch = node.data[i];
        if (/\\s/.test(ch)) { last = " "; continue; }
        const range = document.createRange();
        range.setStart(node, i);
        range.setEnd(node, i + 1);
        const rect = range.getClientRects()[0];
        if (!rect || !rect.height) continue;
        const hyphen = last === "-" && /[A-Za-z]/.test(ch);  // English breaks after a hyphen
        if (top !== null && rect.top > top + rect.height / 2 && last !== " " && !hyphen) {
          broken.push(el.tagName.toLowerCase() + ": " + el.textContent.trim().slice(0, 60));
          break search;
        }
        top = rect.top;
        last = ch;
      }
    }
  }
  return broken;
}"""
"""Elements matching ``selector`` whose text a line break cuts inside a word."""

SPLIT_NUMBERS = """() => {
  const split = [];
  for (const el of document.querySelectorAll(".num, .tel, time")) {
    const range = document.createRange();
    range.selectNodeContents(el);
    const rects = [...range.getClientRects()].filter((r) => r.width > 0);
    rects.sort((a, b) => a.top - b.top);
    if (rects.some((r, i) => i > 0 && r.top >= rects[i - 1].bottom - 1)) {
      split.push(el.textContent.trim());
    }
  }
  return split;
}"""
"""Numbers, times and phone numbers laid out on more than one line."""


def pages_for(role: str, demo: DemoWorld) -> dict[str, str]:
    department = "세무" if role == "lead" else None
    calls = breach_calls(demo, department)
    pages = {"training": "/training?weeks=12"}
    for rule in ("answer", "transfer", "callback"):
        if rule in calls:
            pages[f"call-{rule}"] = f"/calls/{calls[rule]}"
    if role != "trainer":
        pages["dashboard"] = "/"
        pages["department"] = "/departments/세무?week=2026-W47"
    return pages


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("layout-shots")
    print(f"screenshots: {folder}")
    return folder


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("role", ["admin", "lead", "trainer"])
def test_pages_fit_and_never_break_a_word(
    browser,  # noqa: F811
    server: str,  # noqa: F811
    world: DemoWorld,  # noqa: F811
    shots: Path,
    role: str,
    width: int,
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(server + "/login")
    page.fill("#token", world.tokens[role])
    page.click("#login-submit")
    page.wait_for_load_state()
    problems: list[str] = []
    for lang in ("ko", "en"):
        for name, path in pages_for(role, world).items():
            sep = "&" if "?" in path else "?"
            page.goto(f"{server}{path}{sep}lang={lang}")
            where = f"{role} {width}px {lang} {name}"
            page.screenshot(path=str(shots / f"{role}-{width}-{lang}-{name}.png"), full_page=True)
            scroll = page.evaluate("document.documentElement.scrollWidth")
            inner = page.evaluate("window.innerWidth")
            if scroll > inner:
                problems.append(f"{where}: page {scroll} px wide in a {inner} px window")
            for text in page.evaluate(BROKEN_WORDS, "th, td, h1, h2, h3, header.top *, dt, dd"):
                problems.append(f"{where}: word broken in {text!r}")
            for text in page.evaluate(SPLIT_NUMBERS):
                problems.append(f"{where}: number split {text!r}")
            for found in wrong_language(page.content(), (path.rsplit("/", 1)[-1],)):
                problems.append(f"{where}: {found.word!r} in {found.context!r}")
    context.close()
    if problems:
        (shots / f"{role}-{width}-problems.txt").write_text("\n".join(problems), "utf-8")
    assert errors == []
    assert problems == []
