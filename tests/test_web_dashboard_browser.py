"""The dashboard's callbacks waiting in real headless Chromium (Debian's /usr/bin/chromium
driven by Playwright), at 1366 px in Korean as admin and at 390 px in English as the lead of
세무: their countdowns are the wallboard's (the same rows and the same script, ``live.js``),
so they tick from the server's clock and a callback past its deadline turns overdue. And the
department page's hour chart: its wide drawing beside the extensions wherever the two stand
side by side (1366 px), the narrow one on a phone.

The browser's clock is Playwright's (``page.clock``): the test moves it forward instead of
waiting, so no assertion depends on the wall clock."""

from __future__ import annotations

import pytest

from test_web_browser import CHROMIUM, browser, server, world  # noqa: F401 (fixtures)
from test_web_support import ANCHOR, DemoWorld

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
)

COUNTDOWNS = """() => [...document.querySelectorAll('#callbacks-body tr.callback')].map(row => {
  const cell = row.querySelector('.countdown');
  return {due: Number(cell.dataset.due), state: cell.dataset.state, text: cell.textContent.trim(),
          late: row.classList.contains('late')};
})"""


@pytest.mark.parametrize(("role", "width", "lang"), [("admin", 1366, "ko"), ("lead", 390, "en")])
def test_the_dashboards_countdowns_tick_and_turn_overdue(
    browser,  # noqa: F811
    server: str,  # noqa: F811
    world: DemoWorld,  # noqa: F811
    role: str,
    width: int,
    lang: str,
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.clock.install()
    page.goto(server + "/login")
    page.fill("#token", world.tokens[role])
    page.click("#login-submit")
    page.wait_for_load_state()
    page.goto(f"{server}/?lang={lang}")
    rows = page.evaluate(COUNTDOWNS)
    assert rows, "the demo leaves callbacks waiting at its clock"
    assert all(r["state"] == "waiting" and not r["late"] for r in rows)
    first = rows[0]
    minutes = (first["due"] - ANCHOR) / 60e6
    assert 1 < minutes < 180
    left = "남음" if lang == "ko" else "left"
    assert first["text"].endswith(left)
    assert page.locator('script[src="/static/live.js"]').count() == 1  # the wallboard's script

    # one minute on: the countdown says a minute less (it ticks)
    page.clock.run_for(60_000)
    ticked = page.evaluate(COUNTDOWNS)[0]
    assert ticked["text"] != first["text"] and ticked["state"] == "waiting"

    # past the deadline: overdue, in the page's language, the row marked late
    page.clock.run_for(int((minutes + 1) * 60_000))
    late = page.evaluate(COUNTDOWNS)[0]
    assert late["state"] == "overdue" and late["late"], late
    assert late["text"].endswith("지남" if lang == "ko" else "overdue"), late
    color = page.locator("#callbacks-body .countdown").first.evaluate(
        "c => getComputedStyle(c).color"
    )
    assert color == "rgb(207, 34, 46)"  # var(--bad)
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert errors == []
    context.close()


@pytest.mark.parametrize(("width", "drawing"), [(1366, "wide"), (1200, "wide"), (390, "narrow")])
def test_the_department_hour_chart_gets_its_wide_drawing_beside_the_table(
    browser,  # noqa: F811
    server: str,  # noqa: F811
    world: DemoWorld,  # noqa: F811
    width: int,
    drawing: str,
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    page = context.new_page()
    page.goto(server + "/login")
    page.fill("#token", world.tokens["admin"])
    page.click("#login-submit")
    page.wait_for_load_state()
    page.goto(f"{server}/departments/%EC%84%B8%EB%AC%B4?week=2026-W47")
    shown = page.evaluate(
        "() => [...document.querySelectorAll('.chart svg')]"
        ".filter(s => s.getClientRects().length).map(s => s.getAttribute('class'))"
    )
    assert shown == [drawing]
    if width > 1100:  # beside the extensions table, not under it
        table = page.locator("table.stack").first.bounding_box()
        chart = page.locator(".chart").bounding_box()
        assert table is not None and chart is not None
        assert chart["x"] > table["x"] + table["width"]
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    context.close()
