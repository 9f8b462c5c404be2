"""The breach and call explorer in-process (the service's app over the demo store made from
the fixtures): filters, sorting, pages, exports, masking and department scope."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from urllib.parse import unquote
from xml.etree import ElementTree

import httpx
import pytest
from sqlalchemy import select

from callwatch.privacy import mask_number
from callwatch.store import tables
from callwatch.timefmt import parse_iso
from callwatch.web.xlsx import column_name, workbook
from test_web_support import DemoWorld, make_app, make_world, site

X = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> DemoWorld:
    return make_world(tmp_path_factory.mktemp("explore"))


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


def rows(html: str) -> list[dict[str, str]]:
    """The result rows of the explorer page: call, rule, cells."""
    out = []
    for attrs, body in re.findall(r'<tr class="row" ([^>]*)>(.*?)</tr>', html, re.S):
        cells = [
            re.sub(r"<[^>]+>", "", c).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        ]
        found = dict(re.findall(r'data-(\w+)="([^"]*)"', attrs))
        found["cells"] = cells  # type: ignore[assignment]
        found["link"] = re.search(r'class="replay-link" href="([^"]+)"', body).group(1)
        out.append(found)
    return out


def total(html: str) -> int:
    return int(re.search(r'data-total="(\d+)"', html).group(1))


def breaches_in_store(world: DemoWorld, **where: object) -> list[tuple]:
    v, c = tables.verdicts.c, tables.calls.c
    query = (
        select(c.id, v.rule, c.department, c.answered_by, c.caller, c.started_us)
        .join_from(tables.verdicts, tables.calls, v.call_id == c.id)
        .where(v.ok.is_(False))
    )
    for key, value in where.items():
        if key == "since":
            query = query.where(c.started_us >= value)
        elif key == "until":
            query = query.where(c.started_us < value)
        elif key == "rule":
            query = query.where(v.rule == value)
        else:
            query = query.where(getattr(c, key) == value)
    with world.store.engine.connect() as conn:
        return list(conn.execute(query))


def csv_rows(text: str) -> list[dict[str, str]]:
    assert text.startswith("\ufeff")
    return list(csv.DictReader(io.StringIO(text[1:])))


ALL = "from=&to="  # no time bound: the whole demo


def test_explorer_needs_a_session(client: httpx.Client) -> None:
    for path in ("/explore", "/explore/export.csv", "/reports", "/reports/download"):
        r = client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")


def test_filters_match_the_store(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world, "admin")
    everything = client.get(f"/explore?{ALL}")
    assert everything.status_code == 200
    assert total(everything.text) == len(breaches_in_store(world))
    r = client.get(f"/explore?{ALL}&rule=transfer&department=민원")
    wanted = breaches_in_store(world, rule="transfer", department="민원")
    assert total(r.text) == len(wanted) > 0
    assert {x["rule"] for x in rows(r.text)} == {"transfer"}
    ext = wanted[0][3]
    r = client.get(f"/explore?{ALL}&extension={ext}")  # answered it, or took part in a leg
    legs = tables.legs.c
    with world.store.engine.connect() as conn:
        took_part = {
            row[0]
            for row in conn.execute(
                select(legs.call_id).where((legs.from_user == ext) | (legs.to_user == ext))
            )
        }
    wanted = [b for b in breaches_in_store(world) if b[3] == ext or b[0] in took_part]
    assert total(r.text) == len(wanted) >= len(breaches_in_store(world, answered_by=ext))
    # a time range on the site's clock, not a whole week: Tuesday 09:00 to Wednesday 12:00
    r = client.get("/explore?from=2026-11-17T09:00&to=2026-11-18T12:00")
    since, until = parse_iso("2026-11-17T09:00:00+09:00"), parse_iso("2026-11-18T12:00:00+09:00")
    assert total(r.text) == len(breaches_in_store(world, since=since, until=until)) > 0
    times = [x["cells"][0] for x in rows(r.text)]
    assert times and all("2026-11-17 09:00:00" <= t < "2026-11-18 12:00:00" for t in times)


def test_default_is_the_last_seven_days(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world, "admin")
    html = client.get("/explore").text
    assert 'value="2026-11-19T00:00"' in html  # the anchor is Wednesday 25 November, 14:30
    since = parse_iso("2026-11-19T00:00:00+09:00")
    assert total(html) == len(breaches_in_store(world, since=since))


def test_caller_search_respects_masking(client: httpx.Client, world: DemoWorld) -> None:
    caller = next(b[4] for b in breaches_in_store(world) if b[4] and len(b[4]) == 11)
    dashed = f"{caller[:3]}-{caller[3:7]}-{caller[7:]}"
    wanted = [b for b in breaches_in_store(world) if b[4] == caller]
    login(client, world, "admin")
    r = client.get(f"/explore?{ALL}&caller={dashed}")
    assert total(r.text) == len(wanted) and caller in r.text
    assert total(client.get(f"/explore?{ALL}&caller={caller[3:9]}").text) >= len(wanted)
    login(client, world, "trainer")
    r = client.get(f"/explore?{ALL}&caller={dashed}")
    assert r.status_code == 200 and total(r.text) == len(wanted)
    assert caller not in r.text and caller[3:] not in r.text
    assert {x["cells"][4] for x in rows(r.text)} == {mask_number(caller)}
    assert total(client.get(f"/explore?{ALL}&caller={caller[3:9]}").text) == 0
    bad = client.get(f"/explore?{ALL}&caller=누구")
    assert bad.status_code == 400 and "전화번호가 아닙니다" in bad.text


def test_call_id_search_and_replay_links(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world, "admin")
    first = rows(client.get(f"/explore?{ALL}").text)[0]
    r = client.get(f"/explore?{ALL}&call={first['call'][:12]}")
    assert first["call"] in [x["call"] for x in rows(r.text)]
    replay = client.get(first["link"])
    assert replay.status_code == 200 and "통화 다시 보기" in replay.text
    login(client, world, "trainer")
    shown = rows(client.get(f"/explore?{ALL}").text)
    assert client.get(shown[0]["link"]).status_code == 200
    again = client.get(f"/explore?{ALL}&call={shown[0]['call']}")
    assert {x["call"] for x in rows(again.text)} == {shown[0]["call"]}


def test_sorting_and_pages(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world, "admin")
    n = total(client.get(f"/explore?{ALL}").text)
    assert n > 50
    seen = []
    for page in (1, 2, 3):
        html = client.get(f"/explore?{ALL}&sort=time&order=asc&page={page}").text
        seen += [(x["cells"][0], x["call"], x["rule"]) for x in rows(html)]
        if page == 1:
            assert 'id="page-next"' in html and 'id="page-prev"' not in html
    assert len(seen) == min(n, 150)
    assert [s[0] for s in seen] == sorted(s[0] for s in seen)
    html = client.get(f"/explore?{ALL}&sort=department&order=desc").text
    departments = [x["cells"][1] for x in rows(html)]
    assert departments == sorted(departments, reverse=True)
    assert 'aria-sort="descending"' in html
    calls = client.get(f"/explore?{ALL}&kind=calls&sort=ring&order=desc").text
    rings = [float(x["cells"][5].rstrip("초").strip()) for x in rows(calls) if x["cells"][5]]
    assert rings and rings == sorted(rings, reverse=True)


def test_roles_and_department_scope(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world, "lead")  # 세무 only
    html = client.get(f"/explore?{ALL}").text
    assert total(html) == len(breaches_in_store(world, department="세무"))
    assert '<option value="민원"' not in html
    assert client.get(f"/explore?{ALL}&department=민원").status_code == 403
    assert client.get(f"/explore/export.csv?{ALL}&department=민원").status_code == 403
    assert client.get(f"/explore?{ALL}&kind=calls").status_code == 200
    login(client, world, "trainer")
    html = client.get(f"/explore?{ALL}").text
    assert 'value="calls"' not in html  # calls are not a trainer's (api.access.SEES)
    assert client.get(f"/explore?{ALL}&kind=calls").status_code == 403
    assert client.get(f"/explore/export.csv?{ALL}&kind=calls").status_code == 403
    assert 'id="nav-reports"' not in html and 'id="nav-explore"' in html


def test_bad_filters_are_explained(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world, "admin")
    r = client.get("/explore?from=2026-13-01T00:00")
    assert r.status_code == 400 and "날짜와 시각이 아닙니다" in r.text
    r = client.get("/explore?from=2026-11-20T00:00&to=2026-11-19T00:00&lang=en")
    assert r.status_code == 400 and "The end must come after the start." in r.text
    assert client.get("/explore?rule=nothing").status_code == 400
    assert client.get("/explore?department=없는부서").status_code == 400


def test_csv_export_is_neutralised_and_masked(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world, "admin")
    r = client.get(f"/explore/export.csv?{ALL}&rule=answer")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="callwatch-breaches')
    exported = csv_rows(r.text)
    wanted = breaches_in_store(world, rule="answer")
    assert len(exported) == len(wanted) == int(r.headers["x-total-count"])
    assert {e["caller"] for e in exported} == {b[4] or "" for b in wanted}
    assert all(e["replay_url"].startswith("http://testserver/calls/") for e in exported)
    assert exported[0]["started_at"].endswith("+09:00")
    assert (
        client.get(unquote(exported[0]["replay_url"]).removeprefix("http://testserver")).status_code
        == 200
    )
    login(client, world, "trainer")
    text = client.get(f"/explore/export.csv?{ALL}&rule=answer").text
    masked = csv_rows(text)
    assert len(masked) == len(wanted)
    for b in wanted:
        if b[4] and len(b[4]) > 4:
            assert b[4] not in text
    assert all("***" in e["caller"] or len(e["caller"]) <= 4 for e in masked)  # staff stay


def test_csv_cells_never_run_as_formulas(client: httpx.Client, world: DemoWorld) -> None:
    """A caller stored as a formula (from a hostile From header) is written as text."""
    c = tables.calls.c
    victim = breaches_in_store(world, rule="answer")[0][0]
    with world.store.engine.begin() as conn:
        before = conn.execute(select(c.caller).where(c.id == victim)).scalar_one()
        conn.execute(tables.calls.update().where(c.id == victim).values(caller='=HYPERLINK("x")'))
    try:
        login(client, world, "admin")
        exported = csv_rows(client.get(f"/explore/export.csv?{ALL}&call={victim}").text)
        assert exported and all(e["caller"] == '\'=HYPERLINK("x")' for e in exported)
        book = client.get(f"/explore/export.xlsx?{ALL}&call={victim}").content
        assert "'=HYPERLINK" in sheet_rows(book)[1][5]
    finally:
        with world.store.engine.begin() as conn:
            conn.execute(tables.calls.update().where(c.id == victim).values(caller=before))


def sheet_rows(book: bytes) -> list[list[str]]:
    with zipfile.ZipFile(io.BytesIO(book)) as zf:
        assert {"[Content_Types].xml", "xl/workbook.xml", "xl/worksheets/sheet1.xml"} <= set(
            zf.namelist()
        )
        sheet = ElementTree.fromstring(zf.read("xl/worksheets/sheet1.xml"))
    out = []
    for row in sheet.iter(f"{X}row"):
        cells: dict[int, str] = {}
        for cell in row.iter(f"{X}c"):
            col = re.match(r"[A-Z]+", cell.get("r")).group(0)
            index = sum((ord(ch) - 64) * 26**i for i, ch in enumerate(reversed(col))) - 1
            cells[index] = "".join(cell.itertext())
        out.append([cells.get(i, "") for i in range(max(cells) + 1)] if cells else [])
    return out


def test_xlsx_export(client: httpx.Client, world: DemoWorld) -> None:
    login(client, world, "trainer")
    r = client.get(f"/explore/export.xlsx?{ALL}&rule=answer")
    assert r.status_code == 200
    assert (
        r.headers["content-type"]
        == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    table = sheet_rows(r.content)
    assert table[0][:4] == ["started_at", "department", "rule", "rule_name"]
    assert len(table) - 1 == len(breaches_in_store(world, rule="answer"))
    callers = {row[5] for row in table[1:] if len(row) > 5}
    assert any("****" in c for c in callers)
    assert all("***" in c or len(c) <= 4 for c in callers)  # extensions are not masked


def test_xlsx_writer_cells() -> None:
    assert [column_name(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]
    book = workbook("위반", ["a", "b", "c"], [[1, 2.5, "민원 <&>"], [None, "=1+1", "\x01x"]])
    table = sheet_rows(book)
    assert table == [["a", "b", "c"], ["1", "2.5", "민원 <&>"], ["", "'=1+1", "x"]]


def test_department_page_never_links_to_a_week_not_begun(
    client: httpx.Client, world: DemoWorld
) -> None:
    login(client, world, "admin")
    current = client.get("/departments/민원").text  # 2026-W48, the anchor's week
    assert "2026-W48" in current and 'id="next-week"' not in current
    earlier = client.get("/departments/민원?week=2026-W47").text
    assert 'id="next-week" href="?week=2026-W48"' in earlier


def test_site_is_seoul() -> None:
    assert site().timezone == "Asia/Seoul"
