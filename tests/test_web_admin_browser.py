"""The admin page of access tokens in real headless Chromium (Debian's /usr/bin/chromium by
Playwright, the fixtures of ``test_web_browser``): an administrator makes a team lead's token
with an expiry, the new token logs in elsewhere, the administrator revokes it and the
session it opened ends; Korean and English, 1366 px and 390 px. Screenshots go to
``test-artifacts/``."""

from __future__ import annotations

import pytest

from test_web_browser import CHROMIUM, browser, login, server, shot, world
from test_web_support import DemoWorld

__all__ = ["browser", "server", "world"]  # the fixtures, shared with test_web_browser

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"
)


def test_admin_makes_and_revokes_a_token(browser, server: str, world: DemoWorld) -> None:
    admin = browser.new_context(viewport={"width": 1366, "height": 900}, locale="ko-KR")
    page = admin.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, server, world.tokens["admin"])
    page.click("#nav-admin")
    page.wait_for_url(server + "/admin/tokens")
    assert page.locator("h1").inner_text() == "접속 토큰 관리"
    assert "Asia/Seoul" in page.locator(".sub").inner_text()

    page.select_option("#token-role", "lead")
    page.check('input[name="department"][value="민원"]')
    page.fill("#token-name", "민원 팀장")
    page.select_option("#token-expires", "30d")
    page.click("#token-submit")
    page.wait_for_selector("#new-token")
    token = page.locator("#new-token").inner_text().strip()
    token_id = token.split("_")[1]
    row = page.locator(f'#tokens tr[data-token="{token_id}"]')
    assert row.get_attribute("data-state") == "active"
    assert "민원 팀장" in row.inner_text() and "부서장" in row.inner_text()
    assert "KST" in row.locator(".expires").inner_text()
    assert row.locator(".last-used").inner_text() == "사용 안 함"
    shot(page, "admin-tokens-ko")

    # the new token logs in as the lead of 민원
    lead = browser.new_context(viewport={"width": 390, "height": 844}, locale="ko-KR")
    lead_page = lead.new_page()
    login(lead_page, server, token)
    assert lead_page.locator(".role").inner_text().endswith("민원")
    assert lead_page.locator("#nav-admin").count() == 0
    assert lead_page.goto(server + "/admin/tokens").status == 403

    # English, then revoke: the row says so and the lead's session ends
    page.goto(server + "/admin/tokens?lang=en")
    row = page.locator(f'#tokens tr[data-token="{token_id}"]')
    assert "KST" in row.locator(".last-used").inner_text()  # its use is on the site's clock
    row.locator("button.revoke").click()
    page.wait_for_url(server + "/admin/tokens")
    row = page.locator(f'#tokens tr[data-token="{token_id}"]')
    assert row.get_attribute("data-state") == "revoked"
    assert row.locator(".state").inner_text() == "Revoked"
    assert row.locator("td").nth(2).inner_text() == "Civil Affairs"  # 민원's English name
    assert page.locator("h1").inner_text() == "Access tokens"
    shot(page, "admin-tokens-en")
    lead_page.goto(server + "/")
    assert "/login" in lead_page.url

    # a phone-sized screen: the page is usable, the table scrolls inside its card
    small = browser.new_context(viewport={"width": 390, "height": 844}, locale="ko-KR")
    small_page = small.new_page()
    login(small_page, server, world.tokens["admin"])
    small_page.goto(server + "/admin/tokens?lang=ko")
    assert small_page.locator("#token-submit").is_visible()
    shot(small_page, "admin-tokens-390")
    assert not errors
    for context in (admin, lead, small):
        context.close()
