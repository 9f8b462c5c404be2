"""Small things of the pages: the favicon answers, an invalid week is a 400 that says the week
is invalid (Korean and English), and a count of one is worded in the singular."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from callwatch import i18n
from test_web_support import DemoWorld, make_app, make_world


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return make_world(tmp_path_factory.mktemp("small"))


@pytest.fixture
def client(world: DemoWorld) -> Iterator[httpx.Client]:
    from starlette.testclient import TestClient

    with TestClient(make_app(world), base_url="http://testserver") as c:
        yield c


def login(client: httpx.Client, token: str) -> None:
    r = client.post("/login", data={"token": token, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_the_favicon_answers_without_a_session(client: httpx.Client) -> None:
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.headers["content-type"] == "image/vnd.microsoft.icon"
    assert r.content[:4] == b"\x00\x00\x01\x00"  # an ICO file
    assert int.from_bytes(r.content[4:6], "little") >= 1  # with at least one image


@pytest.mark.parametrize(
    "path",
    [
        "/departments/민원?week=2026-W99",
        "/departments/민원?week=last",
        "/reports/weekly.pdf?week=2026-W99&department=민원",
    ],
)
def test_an_invalid_week_says_so(client: httpx.Client, world: DemoWorld, path: str) -> None:
    login(client, world.tokens["admin"])
    ko = client.get(path + "&lang=ko" if "?" in path else path)
    assert ko.status_code == 400
    assert "주 표기가 올바르지 않습니다" in ko.text and "찾을 수 없습니다" not in ko.text
    en = client.get(path + "&lang=en")
    assert en.status_code == 400 and "That week is not valid" in en.text


def test_one_week_is_singular(client: httpx.Client, world: DemoWorld) -> None:
    assert i18n.weeks(1, "en") == "1 week"
    assert i18n.weeks(4, "en") == "4 weeks"
    assert i18n.weeks(1, "ko") == "1주"
    login(client, world.tokens["trainer"])
    page = client.get("/training?weeks=1&lang=en").text
    assert "1 weeks" not in page and "1 week<" in page and "Last 1 week (" in page
    page = client.get("/training?weeks=4&lang=en").text
    assert "Last 4 weeks (" in page
