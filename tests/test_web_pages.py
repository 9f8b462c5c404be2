"""The pages in-process (httpx over ASGI): sessions, roles, masking, languages, the replay's
time line and SIP ladder, the export, the training page and the PDF link."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from callwatch.privacy import mask_number
from callwatch.web.escalation import reached, steps_for
from callwatch.web.queries import call_events, call_legs
from callwatch.web.timeline import build_timeline
from test_web_support import ANCHOR, DemoWorld, call_ids, make_app, make_world, site


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return make_world(tmp_path_factory.mktemp("web"))


@pytest.fixture
def client(world: DemoWorld) -> Iterator[httpx.Client]:
    # a sync client over the ASGI app through Starlette's test transport
    from starlette.testclient import TestClient

    with TestClient(make_app(world), base_url="http://testserver") as c:
        yield c


def login(client: httpx.Client, token: str) -> None:
    r = client.post("/login", data={"token": token, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_every_page_needs_a_session(client: httpx.Client) -> None:
    for path in ("/", "/training", "/departments/민원", "/calls/x", "/calls/x/export"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"].startswith("/login?next=")


def test_login_keeps_the_token_in_an_httponly_cookie(
    client: httpx.Client, world: DemoWorld
) -> None:
    bad = client.post("/login", data={"token": "cw_000000000000_" + "x" * 43, "next": "/"})
    assert bad.status_code == 401
    assert "토큰이 맞지 않거나" in bad.text
    r = client.post(
        "/login", data={"token": world.tokens["admin"], "next": "/training"}, follow_redirects=False
    )
    assert r.status_code == 303 and r.headers["location"] == "/training"
    cookie = r.headers["set-cookie"]
    assert "cw_session=" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert client.get("/training").status_code == 200


def test_login_never_redirects_off_site(client: httpx.Client, world: DemoWorld) -> None:
    for target in ("https://evil.example/", "//evil.example/x", "javascript:alert(1)"):
        r = client.post(
            "/login", data={"token": world.tokens["admin"], "next": target}, follow_redirects=False
        )
        assert r.headers["location"] == "/"


def test_dashboard_is_korean_by_default_and_switches_to_english(
    client: httpx.Client, world: DemoWorld
) -> None:
    login(client, world.tokens["admin"])
    ko = client.get("/")
    assert ko.status_code == 200
    assert "이번 주 전화응대" in ko.text and "응답 속도" in ko.text
    assert 'data-department="민원"' in ko.text and 'data-department="세무"' in ko.text
    assert "2026-W48" in ko.text  # the anchor's week on the Seoul clock
    en = client.get("/?lang=en")
    assert "This week on the phone" in en.text and "Answer speed" in en.text
    assert "cw_lang=en" in en.headers["set-cookie"]
    assert "This week on the phone" in client.get("/").text  # remembered
    assert "이번 주 전화응대" in client.get("/?lang=ko").text


def test_dashboard_shows_trends_callbacks_and_breaches(
    client: httpx.Client, world: DemoWorld
) -> None:
    login(client, world.tokens["admin"])
    page = client.get("/").text
    assert page.count("<svg") >= 2  # a 12-week trend per department
    assert re.search(r'id="callbacks".*?\d+분 남음', page, re.S)  # open callbacks, time left
    links = re.findall(r'class="breach-link" href="/calls/([^"]+)"', page)
    assert len(links) == 20
    assert client.get(f"/calls/{links[0]}").status_code == 200


def test_trainer_never_sees_a_caller_number(client: httpx.Client, world: DemoWorld) -> None:
    store = world.store
    call_id = call_ids(store, "answered3@")[0]
    caller = store.call(call_id)["caller"]
    assert caller.startswith("0") and len(caller) >= 10
    login(client, world.tokens["admin"])
    assert caller in client.get(f"/calls/{quote(call_id)}").text
    login(client, world.tokens["trainer"])
    for path in ("/", f"/calls/{quote(call_id)}", f"/calls/{quote(call_id)}/export", "/training"):
        text = client.get(path).text
        assert caller not in text, path
    page = client.get(f"/calls/{quote(call_id)}").text
    assert mask_number(caller) in page
    assert "전화번호는 가려서 보여 줍니다." in page


def test_the_navigation_offers_only_pages_the_role_may_open(
    client: httpx.Client, world: DemoWorld
) -> None:
    """A trainer may not see the dashboard (``/`` sends them to training): no link to it."""
    login(client, world.tokens["trainer"])
    page = client.get("/training").text
    assert 'id="nav-dashboard"' not in page and 'href="/training"' in page
    login(client, world.tokens["admin"])
    assert 'id="nav-dashboard"' in client.get("/training").text


def test_export_masks_numbers_even_for_an_admin(client: httpx.Client, world: DemoWorld) -> None:
    call_id = call_ids(world.store, "answered3@")[0]
    caller = world.store.call(call_id)["caller"]
    login(client, world.tokens["admin"])
    r = client.get(f"/calls/{quote(call_id)}/export")
    assert r.status_code == 200
    assert r.headers["content-disposition"].startswith("attachment; filename=")
    assert caller not in r.text


def test_export_is_self_contained(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world.tokens["admin"])
    call_id = call_ids(world.store, "slowxfer@")[0]
    html = client.get(f"/calls/{quote(call_id)}/export").text
    assert "<link" not in html and "src=" not in html and "url(" not in html
    assert not re.search(r'href="(?!#)', html)
    external = re.findall(r"https?://[^\s\"'<]+", html)
    assert set(external) <= {"http://www.w3.org/2000/svg"}
    assert "<style>" in html and 'id="cw-timeline"' in html and "requestAnimationFrame" in html


def test_lead_reads_only_their_departments(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world.tokens["lead"])
    page = client.get("/").text
    assert 'data-department="세무"' in page and 'data-department="민원"' not in page
    assert client.get("/departments/세무").status_code == 200
    assert client.get("/departments/민원").status_code == 403
    theirs = call_ids(world.store, "answered3@", "세무")[0]
    other = call_ids(world.store, "answered3@", "민원")[0]
    assert client.get(f"/calls/{quote(theirs)}").status_code == 200
    assert client.get(f"/calls/{quote(other)}").status_code == 403
    assert client.get(f"/calls/{quote(other)}/export").status_code == 403
    assert client.get("/reports/weekly.pdf?department=민원").status_code == 403


def test_department_page(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world.tokens["admin"])
    r = client.get("/departments/민원?week=2026-W47")
    assert r.status_code == 200
    assert "벨소리가 3회 이상 울리기 전에" in r.text  # the charter's promise, quoted
    assert "내선별 현황" in r.text and "시간대별 전화" in r.text
    assert re.search(r'class="breach-link" href="/calls/', r.text)
    assert client.get("/departments/없는부서").status_code == 404
    assert client.get("/departments/민원?week=2026-W99").status_code == 400


def test_unknown_call_is_404(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world.tokens["admin"])
    assert client.get("/calls/no-such-call@example").status_code == 404


def test_call_page_draws_the_answer_limit_where_the_breach_happens(
    client: httpx.Client, world: DemoWorld
) -> None:
    login(client, world.tokens["admin"])
    call_id = call_ids(world.store, "answered3@")[0]
    html = client.get(f"/calls/{quote(call_id)}").text
    limit = re.search(r'<g class="limit breached" data-rule="answer" data-at="([\d.]+)"', html)
    assert limit is not None
    ring = re.search(r'data-kind="first_ring" data-at="([\d.]+)"', html)
    assert ring is not None
    assert float(limit.group(1)) == pytest.approx(float(ring.group(1)) + 6.0)
    assert "응답 한도 6초 (벨 3회)" in html
    assert html.count('<details class="msg"') == 7  # the fixture's seven SIP messages


def test_timeline_rings_at_the_charters_cadence(world: DemoWorld) -> None:
    store = world.store
    call_id = call_ids(store, "answered3@", "민원")[0]
    doc = store.call(call_id)
    legs = call_legs(store, call_id)
    tl = build_timeline(doc, legs, call_events(store, call_id), site().profile_for("민원"))
    rings = [s for s in tl.spans if s.kind == "ring"]
    starts = [round(s.start - rings[0].start, 3) for s in rings]
    assert starts == [0.0, 3.0, 6.0]  # 1 s on, 2 s off; answered 7 s after the first ring
    assert [s.ring for s in rings] == [1, 2, 3]
    assert all(s.end - s.start == pytest.approx(1.0) for s in rings)
    (limit,) = tl.limits
    assert limit.rule == "answer" and limit.breached and limit.seconds == 6.0
    kinds = [m.kind for m in tl.marks]
    assert kinds[0] == "offered" and "answered" in kinds and kinds[-1] == "ended"


def test_timeline_of_a_slow_transfer(world: DemoWorld) -> None:
    store = world.store
    call_id = call_ids(store, "slowxfer@")[0]
    doc = store.call(call_id)
    profile = site().profile_for(doc["department"])
    tl = build_timeline(doc, call_legs(store, call_id), call_events(store, call_id), profile)
    transfer = next(lim for lim in tl.limits if lim.rule == "transfer")
    assert transfer.breached and transfer.seconds == 10.0
    kinds = {m.kind: m for m in tl.marks}
    assert {"transfer", "target_ringing", "connected"} <= set(kinds)
    assert kinds["connected"].at - kinds["transfer"].at > 10.0
    assert kinds["connected"].breach


def test_training_page_lists_extensions_with_the_charters_steps(
    client: httpx.Client, world: DemoWorld
) -> None:
    login(client, world.tokens["admin"])
    page = client.get("/training?weeks=12").text
    assert "자체교육" in page  # Naju's first step, for 민원
    text = re.sub(r"<[^>]+>", "", page)  # each Korean word of a step is kept whole in a span
    assert "타부서 발령 등 인사 조치" in text  # Mokpo's third, for 세무
    rows = re.findall(r'<tr data-extension="(\d*)">', page)
    assert rows and any(rows)
    assert re.search(r'class="replays"><a href="/calls/', page)
    en = client.get("/training?lang=en").text
    assert "1st: training within the department" in en


def test_escalation_steps() -> None:
    naju = steps_for("naju")
    assert reached(naju, 0) is None
    assert reached(naju, 1).count == 1 and reached(naju, 5).count == 2
    mokpo = steps_for("mokpo")
    assert reached(mokpo, 2).count == 1 and reached(mokpo, 3).count == 3
    assert steps_for("wanju") == ()


def test_weekly_pdf_for_admin_not_for_trainer(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world.tokens["trainer"])
    assert client.get("/reports/weekly.pdf?week=2026-W47&department=민원").status_code == 403
    login(client, world.tokens["admin"])
    r = client.get("/reports/weekly.pdf?week=2026-W47&department=민원")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF")


def test_static_files_only_by_name(client: httpx.Client) -> None:
    assert client.get("/static/replay.js").status_code == 200
    assert client.get("/static/..%2Froutes.py").status_code == 404
    assert client.get("/static/nothing.css").status_code == 404


def test_anchor_is_the_newest_data(world: DemoWorld) -> None:
    latest = max(c["started_at"] for c in world.store.calls())
    assert latest < "2026-11-25T05:30:00Z"
    assert ANCHOR > 0
