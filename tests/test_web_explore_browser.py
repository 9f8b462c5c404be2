"""The explorer and the reports page in real headless Chromium (Debian's /usr/bin/chromium
through Playwright), at 1366 px and 390 px, in Korean and English, as admin, lead and
trainer: filter, sort, search a caller, export CSV, follow a row to its replay; ask for a
report of a range of days and download it. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from sqlalchemy import select

from callwatch.privacy import mask_number
from callwatch.store import tables
from test_web_browser import ARTIFACTS, CHROMIUM, browser, login, server, shot, world
from test_web_support import DemoWorld

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
    ),
]
__all__ = ["browser", "server", "world"]

HOME = {"admin": "/", "lead": "/", "trainer": "/training"}
TITLE = {"ko": "위반·통화 찾기", "en": "Breach and call explorer"}


def _a_tax_caller(world: DemoWorld) -> str:
    """A customer's number with a breach in 세무 (the lead's department)."""
    v, c = tables.verdicts.c, tables.calls.c
    query = (
        select(c.caller)
        .join_from(tables.verdicts, tables.calls, v.call_id == c.id)
        .where(v.ok.is_(False), c.department == "세무", c.caller.like("010%"))
        .order_by(c.started_us.desc())
    )
    with world.store.engine.connect() as conn:
        return conn.execute(query).scalars().first()


def _fits(page) -> None:
    """Nothing in the page's main part is wider than the window."""
    width = page.evaluate("() => window.innerWidth")
    main = page.evaluate("() => document.querySelector('main').scrollWidth")
    assert main <= width, f"main is {main} px wide in a {width} px window"


@pytest.mark.parametrize("width", [1366, 390])
@pytest.mark.parametrize("lang", ["ko", "en"])
@pytest.mark.parametrize("role", ["admin", "lead", "trainer"])
def test_explorer(browser, server: str, world: DemoWorld, tmp_path: Path, role, lang, width):
    context = browser.new_context(accept_downloads=True, viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, server, world.tokens[role], home=HOME[role])
    name = f"explore-{role}-{lang}-{width}"

    page.goto(f"{server}/explore?lang={lang}&from=&to=")
    assert page.locator("h1").inner_text() == TITLE[lang]
    assert page.locator("#f-from").input_value() == ""
    _fits(page)
    shot(page, name)

    # filter: one rule
    page.select_option("#f-rule", "answer")
    page.click("#explore-submit")
    page.wait_for_url("**rule=answer**")
    rows = page.locator("tr.row")
    assert rows.count() > 0
    assert set(rows.evaluate_all("rs => rs.map(r => r.dataset.rule)")) == {"answer"}
    if role == "lead":
        departments = set(rows.evaluate_all("rs => rs.map(r => r.cells[1].innerText)"))
        assert departments == {"세무" if lang == "ko" else "Tax"}

    # sort: oldest first
    if width > 600:  # the column heading
        page.locator('th[data-sort="time"] a').click()
    else:  # a phone shows rows as cards, without headings: the form's sort fields
        page.select_option("#f-sort", "time")
        page.select_option("#f-order", "asc")
        page.click("#explore-submit")
    page.wait_for_url("**order=asc**")
    times = page.locator("tr.row td.when").all_inner_texts()
    assert times == sorted(times)
    _fits(page)
    shot(page, f"{name}-sorted")

    # a caller's whole number: found for every role, shown masked to a trainer
    caller = _a_tax_caller(world)
    page.fill("#f-caller", f"{caller[:3]}-{caller[3:7]}-{caller[7:]}")
    page.select_option("#f-rule", "")
    page.click("#explore-submit")
    page.wait_for_url("**caller=**")
    shown = set(page.locator("tr.row td.number").all_inner_texts())
    assert shown == ({mask_number(caller)} if role == "trainer" else {caller})
    assert (caller in page.content()) is (role != "trainer")

    # export what is listed
    with page.expect_download() as info:
        page.click("#export-csv")
    saved = tmp_path / f"{name}.csv"
    info.value.save_as(saved)
    text = saved.read_text(encoding="utf-8-sig")
    exported = list(csv.DictReader(io.StringIO(text)))
    assert len(exported) == page.locator("tr.row").count()
    assert {e["caller"] for e in exported} == shown
    assert (caller in text) is (role != "trainer")

    # follow a row to its replay
    page.locator("a.replay-link").first.click()
    page.wait_for_url("**/calls/**")
    assert page.locator("#cw-replay").count() == 1
    if role == "trainer":
        assert caller not in page.content()
    assert errors == []
    context.close()


@pytest.mark.parametrize("width", [1366, 390])
@pytest.mark.parametrize("lang", ["ko", "en"])
@pytest.mark.parametrize("role", ["admin", "lead"])
def test_report_of_a_date_range(browser, server: str, world: DemoWorld, role, lang, width):
    context = browser.new_context(accept_downloads=True, viewport={"width": width, "height": 900})
    page = context.new_page()
    login(page, server, world.tokens[role])
    page.click("#nav-reports")
    page.wait_for_url("**/reports")
    page.goto(f"{server}/reports?lang={lang}")
    _fits(page)
    shot(page, f"reports-{role}-{lang}-{width}")
    if role == "lead":
        assert page.locator("#r-department option").all_inner_texts() == [
            "세무" if lang == "ko" else "Tax"
        ]
    page.check("#r-period-range")
    page.fill("#r-from", "2026-11-18")
    page.fill("#r-to", "2026-11-25")  # the anchor's day: not over
    page.check("#r-format-html")
    with page.expect_download() as info:
        page.click("#report-submit")
    download = info.value
    assert download.suggested_filename.startswith("callwatch-2026-11-18_2026-11-25-")
    html = Path(download.path()).read_text(encoding="utf-8")
    assert 'id="partial-period"' in html
    assert f'href="{server}/calls/' in html  # absolute links, for mail
    report = context.new_page()
    report.set_content(html)
    report.set_viewport_size({"width": width, "height": 900})
    ARTIFACTS.mkdir(exist_ok=True)
    report.screenshot(path=str(ARTIFACTS / f"report-html-{role}-{lang}-{width}.png"))
    if width == 1366:
        page.check("#r-format-pdf")
        with page.expect_download() as info:
            page.click("#report-submit")
        pdf = Path(info.value.path()).read_bytes()
        assert pdf.startswith(b"%PDF")
        (ARTIFACTS / f"report-{role}-{lang}.pdf").write_bytes(pdf)
        page.check("#r-format-csv")
        with page.expect_download() as info:
            page.click("#report-submit")
        rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text("utf-8-sig"))))
        assert rows and all(r["status"] for r in rows)
        assert {r["week"] for r in rows} == {"2026-11-18/2026-11-25"}
    context.close()
