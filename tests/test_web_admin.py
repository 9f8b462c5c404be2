"""The admin page of access tokens, in-process (httpx over ASGI): administrators only; make a
token (shown once, then accepted by the API), with departments and an expiry; list it with its
times on the site's clock; revoke it; refuse cross-site posts; Korean and English."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from callwatch.api.auth import TokenStore
from test_web_support import DemoWorld, make_app, make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return make_world(tmp_path_factory.mktemp("admin"))


@pytest.fixture
def client(world: DemoWorld) -> Iterator[httpx.Client]:
    from starlette.testclient import TestClient

    with TestClient(make_app(world), base_url="http://testserver") as c:
        yield c


def login(client: httpx.Client, token: str) -> None:
    r = client.post("/login", data={"token": token, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text


def new_token(html: str) -> str:
    found = re.search(r'<code id="new-token">([^<]+)</code>', html)
    assert found, html
    return found.group(1)


@pytest.mark.parametrize("role", ["lead", "trainer"])
def test_only_an_admin_sees_the_page(client: httpx.Client, world: DemoWorld, role: str) -> None:
    assert client.get("/admin/tokens", follow_redirects=False).status_code == 303  # log in
    login(client, world.tokens[role])
    refused = client.get("/admin/tokens")
    assert refused.status_code == 403 and "관리자만 볼 수 있는 화면입니다." in refused.text
    assert 'id="nav-admin"' not in client.get("/training").text
    made = client.post("/admin/tokens", data={"role": "admin"})
    assert made.status_code == 403 and "cw_" not in made.text
    first = TokenStore(world.store.engine).list()[0]
    assert client.post(f"/admin/tokens/{first.id}/revoke").status_code == 403
    assert TokenStore(world.store.engine).list()[0].active


def test_make_list_and_revoke_a_lead_token(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world.tokens["admin"])
    page = client.get("/admin/tokens")
    assert page.status_code == 200 and "접속 토큰 관리" in page.text
    assert 'id="nav-admin"' in client.get("/").text
    made = client.post(
        "/admin/tokens",
        data={"role": "lead", "department": ["세무", "없는과"], "name": "세무 팀장",
              "expires": "30d", "until": ""},
    )  # fmt: skip
    assert made.status_code == 200
    token = new_token(made.text)
    token_id = token.split("_")[1]
    row = re.search(rf'<tr data-token="{token_id}" data-state="active">(.*?)</tr>', made.text, re.S)
    assert row and "세무 팀장" in row.group(1) and "부서장" in row.group(1)
    assert "없는과" not in row.group(1)
    # times on the site's clock: created now (KST), expiring in 30 days, never used yet
    assert row.group(1).count("KST") == 2 and "사용 안 함" in row.group(1)
    # the API accepts it, with the lead's department; using it shows as its last use
    api = client.get("/api/departments", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200 and [d["name"] for d in api.json()] == ["세무"]
    listed = client.get("/admin/tokens").text
    assert token not in listed  # shown once only
    row = re.search(rf'<tr data-token="{token_id}" data-state="active">(.*?)</tr>', listed, re.S)
    assert row and row.group(1).count("KST") == 3
    # revoke: the API refuses it at once
    gone = client.post(f"/admin/tokens/{token_id}/revoke", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"] == "/admin/tokens"
    api = client.get("/api/departments", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 401
    assert f'<tr data-token="{token_id}" data-state="revoked">' in client.get("/admin/tokens").text
    assert client.post("/admin/tokens/000000000000/revoke").status_code == 404


def test_bad_requests_are_explained_in_the_page_language(
    client: httpx.Client, world: DemoWorld
) -> None:
    login(client, world.tokens["admin"])
    r = client.post("/admin/tokens", data={"role": "lead", "name": "x"})
    assert (
        r.status_code == 400
        and "부서가 하나 이상 필요합니다" in r.text
        and "new-token" not in r.text
    )
    r = client.post("/admin/tokens?lang=en", data={"role": "trainer", "until": "2020-13-01"})
    assert r.status_code == 400 and "That expiry is not understood" in r.text
    r = client.post("/admin/tokens?lang=en", data={"role": "trainer", "until": "2020-01-01"})
    assert r.status_code == 400 and "That expiry has passed" in r.text
    r = client.post("/admin/tokens?lang=ko", data={"role": "root"})
    assert r.status_code == 400 and "역할과 부서를 확인하세요" in r.text
    page = client.get("/admin/tokens?lang=en").text
    assert "Access tokens" in page and "Make the token" in page and "Last used" in page


def test_a_post_from_another_site_is_refused(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world.tokens["admin"])
    before = len(TokenStore(world.store.engine).list())
    r = client.post(
        "/admin/tokens", data={"role": "admin"}, headers={"Origin": "https://evil.example"}
    )
    assert r.status_code == 403 and len(TokenStore(world.store.engine).list()) == before
    assert "다른 사이트에서 보낸 요청" in r.text
    r = client.post(
        "/admin/tokens", data={"role": "admin"}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert r.status_code == 403 and len(TokenStore(world.store.engine).list()) == before
    r = client.post(
        "/admin/tokens",
        data={"role": "trainer"},
        headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"},  # Chromium, no-referrer
    )
    assert r.status_code == 200 and new_token(r.text)
    r = client.post(
        "/admin/tokens", data={"role": "trainer"}, headers={"Origin": "http://testserver"}
    )
    assert r.status_code == 200 and new_token(r.text)
