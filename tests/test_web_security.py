"""Headers, the session cookie and the one rule of what each role sees, over the service's
real application and a real SQLite store (httpx over ASGI)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from callwatch.api.access import SEES
from callwatch.api.auth import TokenStore
from test_web_support import DemoWorld, call_ids, make_app, make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return make_world(tmp_path_factory.mktemp("websec"))


def client(
    world: DemoWorld, base: str = "http://callwatch", peer: str = "127.0.0.1"
) -> httpx.Client:
    from starlette.testclient import TestClient

    return TestClient(make_app(world), base_url=base, client=(peer, 50000))


@pytest.fixture
def web(world: DemoWorld) -> Iterator[httpx.Client]:
    with client(world) as c:
        yield c


def login(c: httpx.Client, token: str) -> httpx.Response:
    r = c.post("/login", data={"token": token, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text
    return r


def test_every_response_carries_the_security_headers(web: httpx.Client, world: DemoWorld) -> None:
    login(web, world.tokens["admin"])
    call = call_ids(world.store, "answered")[0]
    bearer = {"Authorization": f"Bearer {world.tokens['admin']}"}
    for path, html in (
        ("/login", True),
        ("/", True),
        ("/training", True),
        (f"/calls/{call}", True),
        ("/static/app.css", False),
        ("/healthz", False),
        ("/api/calls", False),
    ):
        r = web.get(path, headers=bearer)
        assert r.status_code == 200, path
        assert r.headers["x-content-type-options"] == "nosniff", path
        assert r.headers["x-frame-options"] == "DENY", path
        assert r.headers["referrer-policy"] == "no-referrer", path
        if html:
            policy = r.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy, path
            assert "unsafe-inline" not in policy, path
    export = web.get(f"/calls/{call}/export")
    assert "default-src 'none'" in export.headers["content-security-policy"]


def test_the_session_cookie_is_not_the_token(web: httpx.Client, world: DemoWorld) -> None:
    token = world.tokens["admin"]
    cookie = login(web, token).cookies["cw_session"]
    assert token not in cookie and token.split("_")[2] not in cookie
    assert web.get("/training").status_code == 200
    # the cookie is no bearer token
    r = web.get("/api/calls", headers={"Authorization": f"Bearer {cookie}"})
    assert r.status_code == 401
    # a forged or altered cookie is no session
    token_id, expires, mac = cookie.split(".")
    for forged in (
        f"{token_id}.{int(expires) + 3600}.{mac}",
        f"{token_id}.{expires}.{mac[:-2]}AA",
        token,
    ):
        web.cookies.set("cw_session", forged)
        r = web.get("/training", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), forged


def test_revoking_the_token_ends_its_sessions(world: DemoWorld) -> None:
    _, token = TokenStore(world.store.engine).create("admin", name="short-lived")
    with client(world) as c:
        login(c, token)
        assert c.get("/training").status_code == 200
        TokenStore(world.store.engine).revoke(token)
        assert c.get("/training", follow_redirects=False).status_code == 303


@pytest.mark.parametrize(
    ("base", "peer", "forwarded", "secure"),
    [
        ("http://callwatch", "127.0.0.1", None, False),
        ("https://callwatch", "127.0.0.1", None, True),
        ("http://callwatch", "10.9.9.9", "https", True),  # the configured proxy
        ("http://callwatch", "10.6.6.6", "https", False),  # anyone else: header ignored
    ],
)
def test_the_cookie_is_secure_over_https(
    world: DemoWorld,
    monkeypatch: pytest.MonkeyPatch,
    base: str,
    peer: str,
    forwarded: str | None,
    secure: bool,
) -> None:
    monkeypatch.setenv("CALLWATCH_TRUSTED_PROXIES", "10.9.9.9, 10.9.9.10")
    headers = {} if forwarded is None else {"X-Forwarded-Proto": forwarded}
    with client(world, base, peer) as c:
        r = c.post(
            "/login",
            data={"token": world.tokens["admin"], "next": "/"},
            headers=headers,
            follow_redirects=False,
        )
    cookie = r.headers["set-cookie"]
    assert ("; secure" in cookie.lower()) is secure, cookie
    assert "httponly" in cookie.lower()


# -- one rule of what each role sees, for the API and the pages alike ----------------------

PAGES = {
    # page → (the view it shows, what a refusal looks like)
    "/departments/세무": "compliance",
    "/reports/weekly.pdf?department=세무": "reports",
    "/training": "training",
    "/admin/tokens": "tokens",
}
API = {
    "/api/compliance": "compliance",
    "/api/calls": "calls",
    "/api/callbacks": "callbacks",
    "/api/breaches": "breaches",
    "/api/reports/weekly?week=2026-W48&department=세무": "reports",
}


@pytest.mark.parametrize("role", ["admin", "lead", "trainer"])
def test_pages_and_api_follow_the_same_rule(world: DemoWorld, role: str) -> None:
    sees = SEES[role]
    with client(world) as c:
        login(c, world.tokens[role])
        for path, view in PAGES.items():
            r = c.get(path, follow_redirects=False)
            assert (r.status_code == 200) is (view in sees), (role, path, r.status_code)
        bearer = {"Authorization": f"Bearer {world.tokens[role]}"}
        for path, view in API.items():
            r = c.get(path, headers=bearer)
            assert (r.status_code == 200) is (view in sees), (role, path, r.status_code)
        home = c.get("/", follow_redirects=False)
        if "compliance" in sees:
            assert home.status_code == 200 and "data-department" in home.text
        else:  # a trainer's home is the training page: no compliance figures, no callbacks
            assert home.status_code == 303 and home.headers["location"] == "/training"
    assert "compliance" not in SEES["trainer"] and "callbacks" not in SEES["trainer"]
