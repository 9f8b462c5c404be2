"""Hostile query parameters never make a 5xx: cursors holding integers no column can hold and
weeks at the ends of the calendar get 400 (API) or an error page (pages, PDF), over the real
app and a real SQLite store."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from starlette.testclient import TestClient

from test_web_support import DemoWorld, make_app, make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return make_world(tmp_path_factory.mktemp("no500"))


@pytest.fixture
def client(world: DemoWorld) -> Iterator[TestClient]:
    with TestClient(make_app(world), raise_server_exceptions=False) as c:
        yield c


def cursor(key: list[object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


HUGE = 10**30


@pytest.mark.parametrize(
    "path",
    [
        f"/api/calls?cursor={cursor([HUGE, 'x'])}",
        f"/api/calls?cursor={cursor([-HUGE, 'x'])}",
        f"/api/callbacks?cursor={cursor([HUGE, 'x'])}",
        f"/api/breaches?cursor={cursor([HUGE, 'x', 'y', 1])}",
        f"/api/breaches?cursor={cursor([1, 'x', 'y', 2**63])}",
        "/api/reports/weekly?week=9999-W52",
        "/api/reports/weekly?week=0001-W01",
        "/api/reports/weekly?week=9999-W01",
        "/api/reports/weekly?week=1969-W52",
    ],
)
def test_api_refuses_with_400(client: TestClient, world: DemoWorld, path: str) -> None:
    r = client.get(path, headers={"Authorization": f"Bearer {world.tokens['admin']}"})
    assert r.status_code == 400, (path, r.status_code, r.text[:300])
    assert r.json()["detail"]


def test_the_ends_of_the_allowed_range_still_answer(client: TestClient, world: DemoWorld) -> None:
    headers = {"Authorization": f"Bearer {world.tokens['admin']}"}
    for week in ("1970-W01", "9998-W52", "2026W48"):
        r = client.get(f"/api/reports/weekly?week={week}", headers=headers)
        assert r.status_code == 200, (week, r.text[:300])
    r = client.get(f"/api/calls?cursor={cursor([2**63 - 1, 'x'])}", headers=headers)
    assert r.status_code == 200 and r.json()["items"]


@pytest.mark.parametrize(
    "path",
    [
        "/departments/민원?week=9999-W52",
        "/departments/민원?week=0001-W01",
        "/reports/weekly.pdf?week=9999-W52",
        "/reports/weekly.pdf?week=0001-W01&department=민원",
    ],
)
def test_pages_answer_with_an_error_page(client: TestClient, world: DemoWorld, path: str) -> None:
    login = client.post("/login", data={"token": world.tokens["admin"], "next": "/"})
    assert login.status_code == 200
    r = client.get(path)
    assert 400 <= r.status_code < 500, (path, r.status_code)
    assert "<html" in r.text
