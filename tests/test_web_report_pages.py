"""Reports from the pages (the service's app over the demo store made from the fixtures):
whole office and per department, HTML/PDF/CSV, a week or any range of days, the partial
badge, absolute links, no raw Call-ID in the printed report, a chart kept with its heading,
the CSV ``status`` column filled."""

from __future__ import annotations

import csv
import io
import itertools
import re
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from callwatch.reports import build, render_csv
from callwatch.reports.render_html import render_html
from callwatch.settings import SettingsError, load_settings
from test_web_support import SITE_FILE, DemoWorld, make_app, make_world, site


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return make_world(tmp_path_factory.mktemp("reports-ui"))


@pytest.fixture
def client(world: DemoWorld) -> Iterator[httpx.Client]:
    from starlette.testclient import TestClient

    with TestClient(make_app(world), base_url="http://testserver") as c:
        yield c


def login(client: httpx.Client, world: DemoWorld, role: str) -> None:
    r = client.post(
        "/login", data={"token": world.tokens[role], "next": "/"}, follow_redirects=False
    )
    assert r.status_code == 303


def csv_rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))


def visible_text(html: str) -> str:
    """The text a reader sees (tags and their attributes dropped)."""
    body = html[html.index("<body") :]
    return re.sub(r"<[^>]+>", " ", body)


def test_reports_page_by_role(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world, "admin")
    page = client.get("/reports").text
    assert "기관 전체" in page and '<option value="민원">' in page and 'value="세무"' in page
    weeks = re.findall(r'<option value="(\d{4}-W\d\d)">', page)
    assert weeks[0] == "2026-W48" and "2026-W49" not in weeks  # no week that has not begun
    assert "진행 중" in page
    assert 'id="nav-reports"' in page
    login(client, world, "lead")
    page = client.get("/reports?lang=en").text
    assert "Whole office" not in page and 'value="세무"' in page and 'value="민원"' not in page
    login(client, world, "trainer")
    assert client.get("/reports").status_code == 403
    assert client.get("/reports/download?week=2026-W47").status_code == 403


def test_html_report_has_absolute_links_and_no_raw_call_ids(
    client: httpx.Client, world: DemoWorld
) -> None:
    login(client, world, "admin")
    r = client.get("/reports/download?period=week&week=2026-W47&format=html")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'filename="callwatch-2026-W47-all.html"' in r.headers["content-disposition"]
    links = re.findall(r'href="([^"#][^"]*)"', r.text)
    assert links and all(link.startswith("http://testserver/calls/") for link in links)
    report = build.weekly_report(world.store, site(), "2026-W47")
    ids = [b.call_id for d in report.departments for b in d.breaches]
    assert ids
    text = visible_text(r.text)
    assert not [i for i in ids if i in text]
    assert "partial-period" not in r.text  # W47 was over at the anchor
    # the printed report lists no Call-ID either (it prints this HTML)
    printed = visible_text(render_html(report, "en", embed_font_files=True))
    assert not [i for i in ids if i in printed]


def test_configured_public_url_makes_the_links(world: DemoWorld) -> None:
    from starlette.testclient import TestClient

    app = make_app(world)
    app.state.web.public_url = "https://callwatch.example.go.kr/cw"
    with TestClient(app, base_url="http://internal:8080") as client:
        login(client, world, "admin")
        r = client.get("/reports/download?week=2026-W47&department=민원&format=html&lang=en")
    links = re.findall(r'href="([^"#][^"]*)"', r.text)
    assert links and all(x.startswith("https://callwatch.example.go.kr/cw/calls/") for x in links)


def test_public_url_setting() -> None:
    env = {"CALLWATCH_PUBLIC_URL": "https://cw.example.go.kr/"}
    assert load_settings(None, env).public_url == "https://cw.example.go.kr"
    assert load_settings(None, {}).public_url is None
    for bad in ("cw.example.go.kr", "ftp://x", "https://x/{id}"):
        with pytest.raises(SettingsError, match="CALLWATCH_PUBLIC_URL"):
            load_settings(None, {"CALLWATCH_PUBLIC_URL": bad})


def test_current_week_is_partial(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world, "admin")
    html = client.get("/reports/download?week=2026-W48&department=세무&format=html").text
    assert 'id="partial-period"' in html and "진행 중인 기간입니다" in html
    en = client.get("/reports/download?format=html&lang=en&department=세무").text  # this week
    assert "Partial period" in en


def test_range_report(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world, "admin")
    q = "period=range&from=2026-11-10&to=2026-11-20"
    html = client.get(f"/reports/download?{q}&format=html").text
    assert "<h1>전화응대 이행 보고서</h1>" in html and "이전 기간" in html
    assert "2026-11-10 – 2026-11-20" in html and "partial-period" not in html
    rules = csv_rows(client.get(f"/reports/download?{q}&format=csv").text)
    assert {r["week"] for r in rules} == {"2026-11-10/2026-11-20"}
    assert all(r["status"] for r in rules)  # the status column is filled
    for r in rules:
        if r["pass_rate_pct"]:
            assert r["status"] == ("준수" if r["failed"] == "0" else "위반")
    report = build.range_report(world.store, site(), date(2026, 11, 10), date(2026, 11, 20))
    total = next(r for r in rules if r["department"] == "전체 부서" and r["rule"] == "answer")
    assert int(total["offered"]) == report.total.volume.offered > 0
    ext = client.get(f"/reports/download?{q}&format=csv-extensions&department=민원")
    assert ext.status_code == 200 and "extension" in ext.text.splitlines()[0]
    pdf = client.get(f"/reports/download?{q}&format=pdf&department=민원")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    for bad in ("from=2026-11-20&to=2026-11-10", "from=2025-01-01&to=2026-11-20", "from=x&to=y"):
        r = client.get(f"/reports/download?period=range&{bad}")
        assert r.status_code == 400, bad
    assert client.get("/reports/download?week=2026-W99").status_code == 400
    assert client.get("/reports/download?format=doc").status_code == 400


def test_a_weeks_range_equals_the_weekly_report(world: DemoWorld) -> None:
    week = build.weekly_report(world.store, site(), "2026-W47")
    days = build.range_report(world.store, site(), date(2026, 11, 16), date(2026, 11, 22))
    assert (days.start_us, days.end_us) == (week.start_us, week.end_us)
    assert days.total == week.total
    assert [d.compliance for d in days.departments] == [d.compliance for d in week.departments]
    assert days.week == "2026-11-16/2026-11-22" and days.previous_week == "2026-11-09/2026-11-15"
    partial = build.range_report(
        world.store, site(), date(2026, 11, 16), date(2026, 11, 22), now=week.end_us - 1
    )
    assert partial.partial and not days.partial


def test_lead_reports_on_their_department(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world, "lead")
    r = client.get("/reports/download?week=2026-W47&format=csv")
    assert r.status_code == 200
    assert {row["department"] for row in csv_rows(r.text)} == {"세무"}
    assert client.get("/reports/download?week=2026-W47&department=민원").status_code == 403


def test_csv_status_column_is_filled(world: DemoWorld) -> None:
    report = build.weekly_report(world.store, site(), "2026-W47")
    for lang, kept, breached in (("ko", "준수", "위반"), ("en", "Kept", "Breached")):
        rows = csv_rows(render_csv.rules_csv(report, lang))
        assert all(r["status"] for r in rows)
        assert {r["status"] for r in rows if r["pass_rate_pct"]} <= {kept, breached}
        assert any(r["status"] == breached for r in rows)


def _pages_of(html: str) -> list[tuple[int, str, str]]:
    """(page, tag, heading text) of every heading, chart and table, in layout order."""
    from weasyprint import HTML

    document = HTML(string=html).render()
    seen: list[tuple[int, str, str]] = []
    done: set[int] = set()

    def walk(box: object, page: int) -> None:
        element = getattr(box, "element", None)
        tag = str(getattr(box, "element_tag", "")).rpartition("}")[2]  # svg: namespaced
        if element is not None and tag in ("h3", "svg", "table") and id(element) not in done:
            done.add(id(element))
            seen.append((page, tag, element.text or "" if tag == "h3" else ""))
        for child in getattr(box, "all_children", lambda: [])():
            walk(child, page)

    for number, page in enumerate(document.pages):
        walk(page._page_box, number)
    return seen


@pytest.mark.parametrize(("lang", "department"), [("en", "민원"), ("en", None), ("ko", None)])
def test_pdf_keeps_every_chart_with_its_heading(
    world: DemoWorld, lang: str, department: str | None
) -> None:
    report = build.weekly_report(world.store, site(), "2026-W47", department=department)
    layout = _pages_of(render_html(report, lang, embed_font_files=True))
    assert sum(1 for _, tag, _ in layout if tag == "svg") >= 3
    heading = None
    for page, tag, text in layout:
        if tag == "h3":
            heading = (page, text)
        elif tag == "svg":
            assert heading is not None and heading[0] == page, f"{heading} / chart on {page}"
    for (page, tag, text), (after, _, _) in itertools.pairwise(layout):
        if tag == "h3":
            assert page == after, f"heading {text!r} ends page {page}"


def test_cli_report_links_under_the_public_url(
    world: DemoWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from callwatch import cli

    monkeypatch.setenv("CALLWATCH_DATABASE_URL", str(world.store.engine.url))
    args = ["report", "--config", str(SITE_FILE), "--week", "2026-W47", "--department", "민원"]
    relative, absolute = tmp_path / "relative.html", tmp_path / "absolute.html"
    assert cli.main([*args, "--output", str(relative)]) == 0
    assert re.findall(r'href="(/calls/[^"]+)"', relative.read_text(encoding="utf-8"))
    monkeypatch.setenv("CALLWATCH_PUBLIC_URL", "https://cw.example.go.kr/")
    assert cli.main([*args, "--output", str(absolute)]) == 0
    links = re.findall(r'href="([^"#][^"]*)"', absolute.read_text(encoding="utf-8"))
    assert links and all(x.startswith("https://cw.example.go.kr/calls/") for x in links)
