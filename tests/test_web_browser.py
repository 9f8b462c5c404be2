"""The pages in real headless Chromium (Debian's /usr/bin/chromium driven by Playwright):
log in, open the dashboard, follow a breach to its replay, play it past the limit mark, switch
language, download the weekly PDF, export the replay and play the export from file:// with
the network off. Screenshots of each page go to ``test-artifacts/`` (git-ignored).

No assertion depends on the wall clock: the tests wait for the player's state attributes
(``data-state``, ``data-passed``) with Playwright's waiting functions."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from test_web_support import ROOT, DemoWorld, make_app, make_world

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
WAIT_MS = 30_000

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return make_world(tmp_path_factory.mktemp("browser"))


@pytest.fixture(scope="module")
def server(world: DemoWorld) -> Iterator[str]:
    port = _free_port()
    config = uvicorn.Config(
        make_app(world), host="127.0.0.1", port=port, log_level="warning", lifespan="off"
    )
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, name="web-test-server", daemon=True)
    thread.start()
    for _ in range(500):
        if srv.started:
            break
        thread.join(0.02)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield b
        b.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(page, base: str, token: str, home: str = "/") -> None:
    page.goto(base + "/")
    assert "/login" in page.url
    shot(page, "login")
    page.fill("#token", token)
    page.click("#login-submit")
    page.wait_for_url(base + home)


def play_past_limit(page, rule: str) -> None:
    """Press 4× and play; wait until the cursor has passed ``rule``'s limit mark."""
    replay = page.locator("#cw-replay")
    assert replay.get_attribute("data-state") == "paused"
    limit_at = float(page.locator(f'.limit[data-rule="{rule}"]').first.get_attribute("data-at"))
    page.click('button.speed[data-speed="4"]')
    assert replay.get_attribute("data-speed") == "4"
    page.click("#cw-play")
    page.wait_for_function(
        "rule => document.getElementById('cw-replay').dataset.passed.split(' ').includes(rule)",
        arg=rule,
        timeout=WAIT_MS,
    )
    assert float(replay.get_attribute("data-t")) >= limit_at
    cursor_x = float(page.locator("#cw-cursor").get_attribute("x1"))
    limit_x = float(
        page.locator(f'.limit[data-rule="{rule}"] .limit-line').first.get_attribute("x1")
    )
    assert cursor_x >= limit_x - 0.01
    page.wait_for_function(
        "() => document.getElementById('cw-replay').dataset.state === 'ended'", timeout=WAIT_MS
    )


def test_dashboard_breach_replay_language_pdf_export(
    browser, server: str, world: DemoWorld, tmp_path: Path
) -> None:
    context = browser.new_context(
        accept_downloads=True, viewport={"width": 1360, "height": 900}, locale="ko-KR"
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, server, world.tokens["admin"])

    # the dashboard, in Korean
    assert page.locator("h1").inner_text() == "이번 주 전화응대"
    assert page.locator("section.department").count() == 2
    assert page.locator("#feed li.breach").count() == 20
    shot(page, "dashboard")

    # follow an answer breach to its replay
    page.locator('#feed li.breach[data-rule="answer"] a').first.click()
    page.wait_for_url("**/calls/**")
    assert page.locator(".verdicts li.bad[data-rule='answer']").count() == 1
    assert page.locator(".cw-timeline.wide .limit.breached[data-rule='answer']").count() == 1
    shot(page, "call")
    play_past_limit(page, "answer")
    limit = page.locator('.cw-timeline.wide .limit[data-rule="answer"]')
    assert "passed" in (limit.get_attribute("class") or "")
    shot(page, "call-played")

    # scrub back to the start, and open a SIP message
    page.locator("#cw-scrub").fill("0")
    page.wait_for_function("() => document.getElementById('cw-replay').dataset.passed === ''")
    page.locator("details.msg summary").first.click()
    assert page.locator("details.msg pre").first.is_visible()
    assert "INVITE sip:" in page.locator("details.msg pre").first.inner_text()

    # switch language: English, then back to Korean
    page.click("#lang-switch")
    page.wait_for_url("**lang=en")
    assert page.locator("h1").inner_text().startswith("Call replay")
    assert page.locator("#cw-play").inner_text() == "Play"
    shot(page, "call-en")
    page.goto(server + "/")
    assert page.locator("h1").inner_text() == "This week on the phone"  # remembered
    page.click("#lang-switch")
    assert page.locator("h1").inner_text() == "이번 주 전화응대"

    # the department page and its weekly PDF
    page.locator("section.department h2 a").first.click()
    page.wait_for_url("**/departments/**")
    shot(page, "department")
    with page.expect_download() as pdf_info:
        page.click("#pdf-link")
    pdf = tmp_path / "weekly.pdf"
    pdf_info.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "weekly.pdf").write_bytes(pdf.read_bytes())

    # the training page
    page.goto(server + "/training?weeks=12")
    assert page.locator("section.training").count() == 2
    shot(page, "training")

    # export a slow transfer's replay and play it from file:// with the network off
    page.goto(server + "/")
    transfer = page.locator('#feed li.breach[data-rule="transfer"] a')
    if transfer.count():
        transfer.first.click()
    else:  # not among the latest: take one from the department pages
        page.goto(server + "/departments/민원?week=2026-W47")
        page.locator("a.breach-link").first.click()
    page.wait_for_url("**/calls/**")
    breached = page.locator(".cw-timeline.wide .limit.breached[data-rule='transfer']")
    rule = "transfer" if breached.count() else "answer"
    with page.expect_download() as export_info:
        page.click("#export-link")
    exported = ARTIFACTS / "replay-export.html"
    export_info.value.save_as(exported)
    assert errors == []
    context.close()

    offline = browser.new_context(offline=True, viewport={"width": 1100, "height": 900})
    requests: list[str] = []
    offline.on("request", lambda req: requests.append(req.url))
    page = offline.new_page()
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(exported.as_uri())
    assert page.locator("#cw-replay").count() == 1
    play_past_limit(page, rule)
    shot(page, "export-offline")
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    offline.close()


def test_trainer_pages_show_masked_numbers(browser, server: str, world: DemoWorld) -> None:
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    page = context.new_page()
    login(page, server, world.tokens["trainer"], home="/training")  # a trainer's home
    assert page.locator(".masked-note").count() == 1
    page.locator("td.replays a").first.click()
    page.wait_for_url("**/calls/**")
    caller = page.locator("dd.caller").inner_text()
    assert "****" in caller or caller == "—"
    page.locator("details.msg summary").first.click()
    assert "****" in page.locator("details.msg pre").first.inner_text()
    shot(page, "call-trainer")
    context.close()
