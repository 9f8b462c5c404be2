"""Every page a user sees in one language: no English word on a Korean page except proper nouns
and SIP text, no Hangul on an English page except the charter's own words and Korean names
(checked by :mod:`page_language` on the rendered HTML), as admin, lead and trainer; and the
wording of values (units, %p, English department names, verdict details) on the pages."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from callwatch.store import tables
from page_language import Finding, shown_texts, wrong_language
from test_web_support import DemoWorld, make_app, make_world

WEEKS = ("2026-W47", "2026-W48")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return make_world(tmp_path_factory.mktemp("language"))


@pytest.fixture
def client(world: DemoWorld) -> Iterator[httpx.Client]:
    from starlette.testclient import TestClient

    with TestClient(make_app(world), base_url="http://testserver") as c:
        yield c


def breach_calls(world: DemoWorld, department: str | None = None) -> dict[str, str]:
    """A call of each rule's breach (and one kept verdict of each rule), by ``rule`` or
    ``rule:ok``: the replays that show every kind of verdict detail."""
    v, c = tables.verdicts.c, tables.calls.c
    query = select(v.rule, v.ok, v.call_id).join(tables.calls, v.call_id == c.id)
    if department is not None:
        query = query.where(c.department == department)
    found: dict[str, str] = {}
    with world.store.engine.connect() as conn:
        for rule, ok, call_id in conn.execute(query.order_by(c.started_us.desc())):
            found.setdefault(f"{rule}:ok" if ok else rule, call_id)
    return found


def pages_of(role: str, world: DemoWorld) -> list[str]:
    department = "세무" if role == "lead" else None
    calls = [f"/calls/{quote(cid, safe='')}" for cid in breach_calls(world, department).values()]
    pages = ["/training?weeks=1", "/training?weeks=12", *calls, calls[0] + "/export"]
    if role != "trainer":
        pages += ["/"] + [f"/departments/{quote('세무')}?week={w}" for w in WEEKS]
    if role == "admin":
        pages += [f"/departments/{quote('민원')}?week={w}" for w in WEEKS]
    if role == "lead":
        pages.append(f"/departments/{quote('민원')}")  # a 403 page
    return pages


def check(client: httpx.Client, path: str, lang: str, proper: tuple[str, ...]) -> list[str]:
    sep = "&" if "?" in path else "?"
    r = client.get(f"{path}{sep}lang={lang}")
    assert r.status_code in (200, 403), (path, r.status_code)
    assert r.headers["content-type"].startswith("text/html")
    return [f"{path} [{lang}]: {f.word!r} in {f.context!r}" for f in wrong_language(r.text, proper)]


@pytest.mark.parametrize("role", ["admin", "lead", "trainer"])
def test_every_page_is_in_one_language(client: httpx.Client, world: DemoWorld, role: str) -> None:
    client.post("/login", data={"token": world.tokens[role], "next": "/"})
    department = "세무" if role == "lead" else None
    proper = tuple(breach_calls(world, department).values())  # a Call-ID in an export's <title>
    problems = [
        problem
        for path in pages_of(role, world)
        for lang in ("ko", "en")
        for problem in check(client, path, lang, proper)
    ]
    assert problems == []


def test_login_page_is_in_one_language(client: httpx.Client) -> None:
    for lang in ("ko", "en"):
        assert check(client, "/login", lang, ()) == []


def test_the_checker_flags_mixed_language() -> None:
    korean = (
        '<html lang="ko"><title>통화</title><body><ul><li>응답 속도: 위반 — answered by 2002</li>'
        '<li title="kept by 3001">회신</li><li>+6.4%p · 2026-W48 · INVITE · 10 s</li></ul>'
        '<pre>SIP/2.0 180 Ringing</pre><small translate="no">a@b.test</small>'
        '<a lang="en">English</a></body></html>'
    )
    assert [f.word for f in wrong_language(korean)] == ["answered", "by", "kept", "by", "s"]
    english = (
        '<html lang="en"><body><p>Civil Affairs · 민원</p><q lang="ko">감사합니다</q></body></html>'
    )
    assert wrong_language(english) == [Finding("민원", "Civil Affairs · 민원")]


def test_values_carry_units_and_names_follow_the_language(
    client: httpx.Client, world: DemoWorld
) -> None:
    client.post("/login", data={"token": world.tokens["admin"], "next": "/"})
    ko = client.get("/?lang=ko").text
    assert "%p</td>" in ko  # the week's change in percentage points, as in the PDF
    assert "남음" in ko and "분 남음" in ko
    en = client.get("/?lang=en").text
    assert "Civil Affairs" in en and "Tax" in en and "\u00a0pts</td>" in en
    assert ">민원<" not in en and ">세무<" not in en
    dept = client.get(f"/departments/{quote('세무')}?week=2026-W48&lang=ko").text
    assert "초 (벨 " in dept  # an answer breach: seconds and the ring it reached
    assert "3시간" in dept and "10800" not in dept  # the callback limit as the charter says it
    calls = breach_calls(world)
    transfer = client.get(f"/calls/{quote(calls['transfer'], safe='')}?lang=ko").text
    assert "돌려주기" in transfer and "기준 10초" in transfer
    callback = client.get(f"/calls/{quote(calls['callback'], safe='')}?lang=ko").text
    shown = " ".join(shown_texts(callback)[1])  # the time line's JSON holds seconds, not shown
    assert "회신" in shown and "시간" in shown and "10800" not in shown
    hangup = client.get(f"/calls/{quote(calls['hangup'], safe='')}?lang=en").text
    assert "staff hung up first (first BYE)" in hangup


def test_charts_draw_under_the_pages_style_policy(client: httpx.Client, world: DemoWorld) -> None:
    """The pages' CSP (``style-src 'self'``) ignores inline styles: a chart's colours must be
    SVG attributes, or the browser draws every shape black."""
    client.post("/login", data={"token": world.tokens["admin"], "next": "/"})
    r = client.get("/")
    assert "style-src 'self'" in r.headers["content-security-policy"]
    charts = r.text[r.text.index('<div class="chart">') :]
    assert charts.count("<svg") >= 2
    assert " style=" not in charts and "<style" not in charts
    assert 'fill="#1f6feb"' in charts  # the first rule's line colour, as an attribute
