"""The acceptance sweep of the pages in real headless Chromium (Debian's /usr/bin/chromium
driven by Playwright): every page (dashboard, department, wallboard, explorer, reports, the
replay with its SIP ladder, training, probe calls, the token admin page, login, and the refusal
a role gets where it may not go) as admin, lead and trainer, in Korean and English, at 1366 px
and 390 px. On each: the page never scrolls sideways (``scrollWidth <= innerWidth``); no
heading, header cell or table cell breaks a line inside a word (each line break falls on a
space, or after a hyphen between English letters, measured character by character with DOM
ranges); numbers, times and phone numbers (``010-****-8119``) stay on one line; no drop-down list is
narrower than its longest choice; and no page
shows a word in the other language (:mod:`page_language`, on the DOM the browser built: on a
Korean page no English but proper nouns, units and SIP text). The store holds a probe call the
capture got wrong, so the monitoring banner and its details are on the pages too.

A full-page screenshot of each page goes to a temporary folder (its path is printed), or to
``$CALLWATCH_SHOTS`` when set. Long (some 150 page loads): under the ``browser`` marker."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from urllib.parse import quote

import pytest

from callwatch.probe.check import ProbeCheck, Problem
from callwatch.probe.results import save_result
from callwatch.probe.uac import ProbeRecord
from page_language import wrong_language
from test_web_browser import CHROMIUM, browser, server, world  # noqa: F401 (fixtures)
from test_web_language import breach_calls
from test_web_support import ANCHOR, ROOT, DemoWorld

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
    ),
]

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

CUT_SELECTS = """() => {
  const cut = [];
  for (const el of document.querySelectorAll("select")) {
    if (!el.getClientRects().length) continue;
    const free = el.cloneNode(true);  // the same list, free to be as wide as it needs
    free.style.cssText = "position: absolute; visibility: hidden; width: auto; max-width: none";
    el.parentElement.appendChild(free);
    const needs = free.getBoundingClientRect().width;
    free.remove();
    if (el.getBoundingClientRect().width < needs - 1) cut.push(el.id || el.name);
  }
  return cut;
}"""
"""Drop-down lists narrower than their longest choice (its end would be cut off)."""


def pages_for(role: str, demo: DemoWorld) -> dict[str, str]:
    """Every page, by name, as ``role`` opens it (a page the role may not see gives its
    refusal, which must read right too)."""
    department = "세무" if role == "lead" else None
    calls = breach_calls(demo, department)
    tax = quote("세무")
    pages = {
        "dashboard": "/",
        "department": f"/departments/{tax}?week=2026-W47",
        "department-now": f"/departments/{tax}",
        "other-department": f"/departments/{quote('민원')}",
        "wall": "/wall",
        "explore": "/explore?from=&to=",
        "explore-calls": "/explore?kind=calls&from=&to=",
        "reports": "/reports",
        "training": "/training?weeks=12",
        "probes": "/probes",
        "admin-tokens": "/admin/tokens",
    }
    for rule in ("answer", "transfer", "callback", "hangup"):
        if rule in calls:
            pages[f"call-{rule}"] = f"/calls/{quote(calls[rule], safe='')}"
    return pages


@pytest.fixture(scope="module")
def probed(world: DemoWorld) -> DemoWorld:  # noqa: F811
    """The demo store with a probe call of 세무 the capture got wrong an hour before its
    clock (the monitoring banner, the probe page's details)."""
    rows = json.loads((ROOT / "sip_fixtures" / "probe" / "probe_calls.records.json").read_text())
    answered = next(ProbeRecord.from_dict(r) for r in rows if r.pop("flow") == "answered")
    shift = ANCHOR - 3_600_000_000 - answered.invite_at
    times = {
        f.name: getattr(answered, f.name) + shift
        for f in dataclasses.fields(answered)
        if f.name.endswith("_at") and getattr(answered, f.name) is not None
    }
    record = dataclasses.replace(answered, **times)
    check = ProbeCheck(
        call_id=record.call_id,
        number=record.number,
        outcome="mismatch",
        problems=(Problem("answer", 3.2, 4.4), Problem("ring", 2.9, 4.1), Problem("clock", -2.6)),
        department="세무",
        probe_ring_s=4.1,
        seen_ring_s=2.9,
    )
    save_result(world.store, "세무", record, check, ANCHOR - 3_500_000_000)
    return world


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    chosen = os.environ.get("CALLWATCH_SHOTS")
    folder = Path(chosen) if chosen else tmp_path_factory.mktemp("layout-shots")
    folder.mkdir(parents=True, exist_ok=True)
    print(f"screenshots: {folder}")
    return folder


def check_page(page, where: str, path: str, problems: list[str]) -> None:
    """Every check of the sweep on the page open in ``page``."""
    scroll = page.evaluate("document.documentElement.scrollWidth")
    inner = page.evaluate("window.innerWidth")
    if scroll > inner:
        problems.append(f"{where}: page {scroll} px wide in a {inner} px window")
    for text in page.evaluate(BROKEN_WORDS, "th, td, h1, h2, h3, header.top *, dt, dd, li"):
        problems.append(f"{where}: word broken in {text!r}")
    for text in page.evaluate(SPLIT_NUMBERS):
        problems.append(f"{where}: number split {text!r}")
    for name in page.evaluate(CUT_SELECTS):
        problems.append(f"{where}: list {name!r} too narrow for its longest choice")
    for found in wrong_language(page.content(), (path.rsplit("/", 1)[-1],)):
        problems.append(f"{where}: {found.word!r} in {found.context!r}")


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize("role", ["admin", "lead", "trainer"])
def test_pages_fit_and_read_in_one_language(
    browser,  # noqa: F811
    server: str,  # noqa: F811
    probed: DemoWorld,
    shots: Path,
    role: str,
    width: int,
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 860})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    problems: list[str] = []
    for lang in ("ko", "en"):
        page.goto(f"{server}/login?lang={lang}")
        page.screenshot(path=str(shots / f"{role}-{width}-{lang}-login.png"), full_page=True)
        check_page(page, f"{role} {width}px {lang} login", "/login", problems)
    page.fill("#token", probed.tokens[role])
    page.click("#login-submit")
    page.wait_for_load_state()
    for lang in ("ko", "en"):
        for name, path in pages_for(role, probed).items():
            sep = "&" if "?" in path else "?"
            page.goto(f"{server}{path}{sep}lang={lang}")
            page.wait_for_load_state()
            page.screenshot(path=str(shots / f"{role}-{width}-{lang}-{name}.png"), full_page=True)
            check_page(page, f"{role} {width}px {lang} {name}", path, problems)
    context.close()
    if problems:
        (shots / f"{role}-{width}-problems.txt").write_text("\n".join(problems), "utf-8")
    assert errors == []
    assert problems == []
