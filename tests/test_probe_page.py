"""The probe page and the monitoring banner, over a store filled from the recorded probe calls
(sip_fixtures/probe/: the pyVoIP probe's own records and Asterisk's HEP copies of the same
calls, run through the pipeline and checked by the ProbeMonitor): in-process (httpx over
ASGI) and in real headless Chromium at 1366 and 390 px (screenshots in test-artifacts/).

The recorded week holds three probes: answered after 3.0 s of ringback (the capture agrees),
busy (agrees) and unanswered (its HEP copies withheld here: ``missing``, the banner). The
eleven weeks before hold the same three calls a week earlier each (records shifted, new
Call-IDs), so the trend has points."""

from __future__ import annotations

import dataclasses
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from callwatch.api.auth import TokenStore
from callwatch.api.context import ApiContext
from callwatch.capture import CaptureStats, read_capture
from callwatch.config import load_site
from callwatch.http import create_app
from callwatch.pipeline import CallPipeline, JudgedCall, Output
from callwatch.probe.check import ProbeMonitor, check_probe, find_probe_call
from callwatch.probe.results import save_result
from callwatch.probe.uac import ProbeRecord
from callwatch.store import Store
from callwatch.store.probe_tables import probe_results
from callwatch.timefmt import parse_iso
from callwatch.web import WebContext
from page_language import wrong_language

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "sip_fixtures" / "probe"
SITE = load_site(ROOT / "sip_fixtures" / "asterisk" / "site.toml")
NOW = parse_iso("2026-12-06T03:00:00Z")  # Sunday noon in Seoul, an hour after the probes
WEEK_US = 7 * 86_400_000_000
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "test-artifacts"


@dataclasses.dataclass
class World:
    store: Store
    tokens: dict[str, str]
    records: dict[str, ProbeRecord]


def _records() -> dict[str, ProbeRecord]:
    rows = json.loads((PROBE / "probe_calls.records.json").read_text(encoding="utf-8"))
    return {r.pop("flow"): ProbeRecord.from_dict(r) for r in rows}


def _earlier(record: ProbeRecord, weeks: int) -> ProbeRecord:
    shift = weeks * WEEK_US
    times = {
        f.name: getattr(record, f.name) - shift
        for f in dataclasses.fields(record)
        if f.name.endswith("_at") and getattr(record, f.name) is not None
    }
    call_id = record.call_id.replace("probe-", f"probe-{weeks:02d}")[: len(record.call_id)]
    return dataclasses.replace(record, call_id=call_id, **times)


def _build(folder: Path) -> World:
    store = Store.open(f"sqlite:///{folder / 'probes.sqlite'}", site=SITE.name)
    store.upgrade()
    records = _records()
    pipe = CallPipeline(SITE)
    out: list[Output] = []
    for packet in read_capture(PROBE / "probe_calls.hep.pcap", CaptureStats()):
        out += pipe.push(packet)
    out += pipe.flush()
    unanswered = records["no_answer"].call_id
    judged = [o for o in out if isinstance(o, JudgedCall)]
    store.save([j for j in judged if all(leg.call_id != unanswered for leg in j.call.legs)])
    monitor = ProbeMonitor()
    for name in ("answered", "busy"):
        monitor.expect(records[name])
    for j in judged:
        if True:
            for check in monitor.on_call(j.call):
                record = next(r for r in records.values() if r.call_id == check.call_id)
                save_result(store, "민원", record, check, NOW - 3_000_000_000)
                for weeks in range(1, 12):
                    old = _earlier(record, weeks)
                    save_result(store, "민원", old, dataclasses.replace(check, call_id=old.call_id),
                                old.invite_at + 60_000_000)  # fmt: skip
    missing = records["no_answer"]
    save_result(store, "민원", missing, check_probe(missing, None), NOW - 2_000_000_000)
    book = TokenStore(store.engine)
    tokens = {
        "admin": book.create("admin")[1],
        "lead": book.create("lead", ["세무"])[1],
        "trainer": book.create("trainer")[1],
    }
    return World(store, tokens, records)


def _app(world: World) -> FastAPI:
    service = SimpleNamespace(site=SITE, sinks=[], metrics=None, readiness=dict)
    app = create_app(service, api=ApiContext(store=world.store, site=SITE))  # type: ignore[arg-type]
    verify = TokenStore(world.store.engine).verify
    app.state.web = WebContext(SITE, world.store, verify, clock=lambda: NOW)
    return app


def _client_for(world: World) -> Any:
    from starlette.testclient import TestClient

    return TestClient(_app(world), base_url="http://testserver")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    return _build(tmp_path_factory.mktemp("probes"))


@pytest.fixture
def client(world: World) -> Iterator[httpx.Client]:
    with _client_for(world) as c:
        yield c


def _login(client: httpx.Client, token: str) -> None:
    r = client.post("/login", data={"token": token, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text


def test_the_probe_page_shows_each_department_as_a_citizen_heard_it(
    client: httpx.Client, world: World
) -> None:
    _login(client, world.tokens["admin"])
    r = client.get("/probes")
    assert r.status_code == 200
    html = r.text
    assert "<h1>시험 전화</h1>" in html and "직원 응대 통계에는 넣지 않고" in html
    # this week: three probes, one answered after 3.0 s of ringback = ring 2 of the naju
    # charter's cadence (1 s on, 2 s off), within its 2 rings; two confirmed by the capture
    for figure, value in (("placed", "3"), ("answered", "1"), ("within", "1"),
                          ("median_rings", "2"), ("confirmed", "2 / 3")):  # fmt: skip
        assert f'data-figure="{figure}"' in html
        assert (
            f'data-figure="{figure}"'
            + (' class="bad"' if figure == "confirmed" else "")
            + (f">{value}</dd>")
            in html
        ), figure
    assert "벨 2회 안에 응답" in html and "벨 2회 (3.0초)" in html and "통화 중 (486)" in html
    assert "받지 않아 끊음" in html and "수집 안 됨" in html
    assert html.count('<tr data-outcome="ok">') == 2 + 2 * 11  # this week's, then 11 weeks'
    assert "<svg" in html  # the weekly trend
    en = client.get("/probes?lang=en").text
    assert "<h1>Probe calls</h1>" in en and "Answered within 2 rings" in en
    assert "2 rings (3.0 s)" in en and "Busy (486)" in en and "not captured" in en
    assert "Civil Affairs" in en and "민원</" not in en  # the site's English department names


def test_a_probe_never_captured_puts_the_banner_on_the_dashboard(
    client: httpx.Client, world: World
) -> None:
    _login(client, world.tokens["admin"])
    for path in ("/", "/probes"):
        html = client.get(path).text
        assert 'id="monitoring-alert"' in html, path
        assert 'data-department="민원" data-outcome="missing"' in html
        assert "2026-12-06 11:05에 건 시험 전화가 수집되지 않았습니다" in html
    en = client.get("/?lang=en").text
    assert "Civil Affairs: the probe call placed" in en and "was never captured" in en


def test_the_banner_goes_once_a_later_probe_is_confirmed(
    client: httpx.Client, tmp_path: Path
) -> None:
    later = _build(tmp_path)
    try:
        with _client_for(later) as c:
            _login(c, later.tokens["admin"])
            assert 'id="monitoring-alert"' in c.get("/").text
            answered = later.records["answered"]
            call_id = answered.call_id.replace("probe-", "probe-ff")[: len(answered.call_id)]
            again = dataclasses.replace(
                answered, call_id=call_id, invite_at=answered.invite_at + 600_000_000
            )
            ok = dataclasses.replace(
                check_probe(answered, None), call_id=again.call_id, outcome="ok"
            )
            save_result(later.store, "민원", again, ok, NOW)
            assert 'id="monitoring-alert"' not in c.get("/").text
            assert 'id="monitoring-alert"' not in c.get("/probes").text
    finally:
        later.store.close()


def test_what_differed_is_worded_in_the_pages_language(tmp_path: Path) -> None:
    """A mismatch's problems are stored as data and worded in Korean or English on the banner
    and the probe page; a row stored before (English text) still reads."""
    later = _build(tmp_path)
    try:
        pipe = CallPipeline(SITE)
        out: list[Output] = []
        for packet in read_capture(PROBE / "probe_calls.hep.pcap", CaptureStats()):
            out += pipe.push(packet)
        out += pipe.flush()
        calls = [o.call for o in out if isinstance(o, JudgedCall)]
        answered = later.records["answered"]
        call = find_probe_call(answered, calls)
        assert call is not None
        call_id = answered.call_id.replace("probe-", "probe-ee")[: len(answered.call_id)]
        # the probe heard the answer 1 s later than the capture saw it
        heard_late = dataclasses.replace(
            answered, answered_at=(answered.answered_at or 0) + 1_000_000
        )
        check = dataclasses.replace(check_probe(heard_late, call), call_id=call_id)
        # placed as the department's newest probe call (after the one never captured)
        heard_late = dataclasses.replace(heard_late, call_id=call_id, invite_at=NOW - 1_000_000_000)
        assert [p.code for p in check.problems] == ["answer", "ring"]
        save_result(later.store, "민원", heard_late, check, NOW)
        with later.store.engine.connect() as conn:
            stored = conn.execute(
                probe_results.select().where(probe_results.c.sip_call_id == call_id)
            ).one()
        assert stored.problems == [p.to_dict() for p in check.problems]  # data, no prose

        with _client_for(later) as c:
            _login(c, later.tokens["admin"])
            ko = c.get("/").text
            assert 'data-outcome="mismatch"' in ko
            assert "응답까지: 수집 " in ko and "(0.25초 넘게 차이)" in ko and "벨 시간: 수집 " in ko
            banner = ko[ko.index('id="monitoring-alert"') : ko.index("</section>")]
            assert wrong_language('<html lang="ko"><body><section ' + banner) == []
            assert "captured" not in c.get("/probes").text
            en = c.get("/?lang=en").text
            assert "To the answer: captured " in en and "(more than 0.25\xa0s apart)" in en

            old = "ring: captured 3.000 s, probe 3.500 s (more than 0.25 s apart)"
            with later.store.engine.begin() as conn:
                conn.execute(
                    probe_results.update()
                    .where(probe_results.c.sip_call_id == call_id)
                    .values(problems=[old])
                )
            assert old in c.get("/").text  # an older row's sentence, as it was stored
            assert old in c.get("/probes").text
    finally:
        later.store.close()


def test_only_those_who_see_compliance_see_the_probes(client: httpx.Client, world: World) -> None:
    r = client.get("/probes", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    _login(client, world.tokens["trainer"])
    assert client.get("/probes").status_code == 403
    _login(client, world.tokens["lead"])  # a lead of 세무, which this office does not have
    html = client.get("/probes").text
    assert 'data-department="민원"' not in html and 'id="monitoring-alert"' not in html


@pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not at /usr/bin/chromium")
@pytest.mark.parametrize(("width", "lang"), [(1366, "ko"), (390, "en")])
def test_the_probe_page_in_chromium(world: World, width: int, lang: str) -> None:
    from playwright.sync_api import sync_playwright

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(_app(world), host="127.0.0.1", port=port, log_level="warning",
                            lifespan="off")  # fmt: skip
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="probe-page-server", daemon=True)
    thread.start()
    try:
        for _ in range(500):
            if server.started:
                break
            thread.join(0.02)
        assert server.started
        base = f"http://127.0.0.1:{port}"
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
            )
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(f"{base}/login?next=/probes%3Flang%3D{lang}")
            page.fill("#token", world.tokens["admin"])
            page.press("#token", "Enter")
            page.wait_for_selector("#monitoring-alert")
            heading = page.text_content("h1")
            assert heading == ("시험 전화" if lang == "ko" else "Probe calls")
            card = page.locator(".probe-department").bounding_box()
            assert card is not None and card["x"] >= 0 and card["x"] + card["width"] <= width
            chart = page.locator(".probe-department .chart svg:visible").bounding_box()
            assert chart is not None and 0 < chart["width"] <= card["width"]
            # the page's CSP ignores inline styles: the chart's colours must not need them
            fill = page.eval_on_selector(
                ".probe-department .chart svg path", "p => getComputedStyle(p).fill"
            )
            assert fill == "rgb(255, 255, 255)"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"probes-{width}-{lang}.png"), full_page=True)
            page.goto(f"{base}/?lang={lang}")
            page.wait_for_selector("#monitoring-alert")
            page.screenshot(path=str(ARTIFACTS / f"dashboard-{width}-{lang}.png"), full_page=True)
            browser.close()
    finally:
        server.should_exit = True
        thread.join(10)
