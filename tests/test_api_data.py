"""What each endpoint answers, checked against the fixtures' ``callwatch ingest`` output, on
SQLite and (where the store differs) PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

import test_api_fixtures as fa
import test_store_fixtures as fx
from callwatch.reports import build
from callwatch.store import Store
from callwatch.timefmt import parse_iso

api = fa.api
filled_store = fa.filled_store
_filled_file = fa._filled_file
_pg_cleanup = fx._pg_cleanup
pg_database = fx.pg_database
database_url = fx.database_url


@pytest.fixture
async def any_api(database_url: str, tmp_path: Path) -> AsyncIterator[fa.Api]:
    """The API on a freshly migrated and filled SQLite file or PostgreSQL schema."""
    store = Store.open(database_url, site=fx.site().name)
    store.upgrade()
    fa.fill(store)
    app, ctx, tokens = fa.make_app(store, tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://callwatch") as client:
        yield fa.Api(app, store, ctx, tokens, client)
    store.close()


def expected() -> list[dict]:
    return fx.expected_rows(fa.api_captures())


def newest_first(rows: list[dict]) -> list[str]:
    return [
        r["call"] for r in sorted(rows, key=lambda r: (r["started_at"], r["call"]), reverse=True)
    ]


async def all_pages(api: fa.Api, path: str, **params: object) -> list[dict]:
    items, cursor, pages = [], None, 0
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        r = await api.get(path, **query)
        assert r.status_code == 200, r.text
        body = r.json()
        items.extend(body["items"])
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            return items
        assert pages < 100


# -- calls ----------------------------------------------------------------------------------


async def test_calls_page_through_every_call_newest_first(any_api: fa.Api) -> None:
    items = await all_pages(any_api, "/api/calls", limit=4)
    assert [c["call"] for c in items] == newest_first(expected())
    by_id = {r["call"]: r for r in expected()}
    for item in items:
        assert item.pop("breached") == any(not v["ok"] for v in by_id[item["call"]]["verdicts"])
        assert item.pop("tag") is None  # the fixtures are staff calls
        assert item == by_id[item["call"]]


@pytest.mark.parametrize(
    ("params", "keep"),
    [
        ({"department": "세무"}, lambda r: r["department"] == "세무"),
        ({"rule": "transfer"}, lambda r: any(v["rule"] == "transfer" for v in r["verdicts"])),
        ({"breached": "true"}, lambda r: any(not v["ok"] for v in r["verdicts"])),
        ({"breached": "false"}, lambda r: all(v["ok"] for v in r["verdicts"])),
        (
            {"breached": "true", "rule": "answer"},
            lambda r: any(v["rule"] == "answer" and not v["ok"] for v in r["verdicts"]),
        ),
        (
            {"breached": "false", "rule": "hangup"},
            lambda r: (
                any(v["rule"] == "hangup" for v in r["verdicts"])
                and all(v["ok"] for v in r["verdicts"] if v["rule"] == "hangup")
            ),
        ),
        ({"extension": "2002"}, None),
    ],
)
async def test_call_filters(api: fa.Api, params: dict, keep: object) -> None:
    items = await all_pages(api, "/api/calls", **params)
    ids = [c["call"] for c in items]
    if keep is None:  # extension 2002: answered it, or rang / was transferred to
        assert {"hep2@callwatch.test", "fork@callwatch.test", "blind@callwatch.test"} <= set(ids)
        assert "answered3@callwatch.test" not in ids
        return
    want = newest_first([r for r in expected() if keep(r)])  # type: ignore[operator]
    assert ids == want and ids


async def test_calls_in_a_period(api: fa.Api) -> None:
    rows = sorted(expected(), key=lambda r: r["started_at"])
    since, until = rows[5]["started_at"], rows[12]["started_at"]
    items = await all_pages(api, "/api/calls", **{"from": since, "to": until})
    want = [r for r in rows if parse_iso(since) <= parse_iso(r["started_at"]) < parse_iso(until)]
    assert [c["call"] for c in items] == newest_first(want) and len(want) == 7


async def test_one_call_with_events_verdicts_and_sip_messages(api: fa.Api) -> None:
    r = await api.get("/api/calls/answered3@callwatch.test")
    assert r.status_code == 200
    body = r.json()
    assert body["call"]["verdicts"][0] == {
        **body["call"]["verdicts"][0],
        "rule": "answer",
        "ok": False,
    }
    kinds = [e["event"] for e in body["events"]]
    assert kinds[0] == "offered" and "answered" in kinds and kinds[-1] == "ended"
    assert [e["at"] for e in body["events"]] == sorted(e["at"] for e in body["events"])
    lines = [m["first_line"] for m in body["messages"]]
    assert lines[0].startswith("INVITE sip:") and any(x.startswith("BYE") for x in lines)
    raw = [p for p in fx.packets(fx.FIXTURES / "answered_3rd_ring.pcap")]
    assert len(body["messages"]) == len({(p.ts, p.payload) for p in raw})
    missing = await api.get("/api/calls/no-such-call")
    assert missing.status_code == 404 and "no-such-call" in missing.json()["detail"]


# -- breaches and callbacks -----------------------------------------------------------------


async def test_breaches_are_the_failed_verdicts(any_api: fa.Api) -> None:
    items = await all_pages(any_api, "/api/breaches", limit=3)
    got = sorted((b["call"], b["rule"]) for b in items)
    want = sorted((r["call"], v["rule"]) for r in expected() for v in r["verdicts"] if not v["ok"])
    assert got == want and got
    answer = await all_pages(any_api, "/api/breaches", rule="answer")
    assert {b["rule"] for b in answer} == {"answer"}
    assert len(answer) == sum(1 for _, rule in want if rule == "answer")


async def test_callbacks_by_status(api: fa.Api) -> None:
    def calls(status: str) -> object:
        return api.get("/api/callbacks", status=status)

    open_ = {c["call"] for c in (await calls("open")).json()["items"]}
    assert open_ == {"busy@callwatch.test", "cancel@callwatch.test", "noanswer@callwatch.test"}
    kept = (await calls("kept")).json()["items"]
    assert [c["call"] for c in kept] == ["missed-40min@callwatch.test"]
    assert kept[0]["by"] == "2001" and kept[0]["delay_seconds"] == pytest.approx(2399.996457)
    assert (await calls("lost")).status_code == 422


async def test_post_callback_then_get_shows_the_new_deadline(any_api: fa.Api) -> None:
    body = {
        "number": "+82 10-1234-5678",
        "asked_at": "2026-11-23T20:20:00+09:00",
        "due_at": "2026-11-24T10:00:00+09:00",
    }
    r = await any_api.post("/api/callbacks", body, who="lead_a")
    assert r.status_code == 200, r.text
    changed = r.json()["items"]
    assert {c["call"] for c in changed} == {
        "busy@callwatch.test",
        "cancel@callwatch.test",
        "noanswer@callwatch.test",
    }
    due = "2026-11-24T01:00:00.000000Z"
    assert all(c["due_at"] == due and c["requested"] for c in changed)
    listed = (await any_api.get("/api/callbacks", status="open")).json()["items"]
    assert {c["call"]: (c["due_at"], c["requested"]) for c in listed} == {
        c["call"]: (due, True) for c in changed
    }
    call = (await any_api.get("/api/calls/busy@callwatch.test")).json()["call"]
    assert call["callback"]["due_at"] == due


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"number": "anonymous", "due_at": "2026-11-24T00:00:00Z"}, 400, "callable"),
        ({"number": "01099998888", "due_at": "2026-11-24T00:00:00Z"}, 404, "no open"),
        (
            {
                "number": "01012345678",
                "due_at": "2026-11-23T00:00:00Z",
                "asked_at": "2026-11-23T12:00:00Z",
            },
            422,
            "is before asked_at",
        ),
        ({"number": "01012345678", "due_at": "tomorrow"}, 400, "ISO 8601"),
        ({"number": "01012345678"}, 422, ""),
        ({"number": "01012345678", "due_at": ""}, 400, "due_at is required"),
        (
            {
                "number": "01012345678",
                "due_at": "2026-11-24T00:00:00Z",
                "asked_at": "2026-11-23T11:00:00Z",
            },
            404,
            "",
        ),
    ],
)
async def test_post_callback_refusals(api: fa.Api, body: dict, status: int, words: str) -> None:
    r = await api.post("/api/callbacks", body)
    assert r.status_code == status, r.text
    assert words in r.text


# -- reports ----------------------------------------------------------------------------------


async def test_compliance_is_the_reports_figures(api: fa.Api) -> None:
    since, until = "2026-11-23T00:00:00Z", "2026-11-24T00:00:00Z"
    r = await api.get("/api/compliance", **{"from": since, "to": until})
    assert r.status_code == 200, r.text
    want = build.compliance(api.store, fx.site(), parse_iso(since), parse_iso(until))
    assert r.json() == [c.to_dict() for c in want]
    civil = next(c for c in r.json() if c["department"] == "민원")
    answer = next(x for x in civil["rules"] if x["rule"] == "answer")
    verdicts = [v for row in expected() if row["department"] == "민원" for v in row["verdicts"]]
    assert answer["failed"] == sum(1 for v in verdicts if v["rule"] == "answer" and not v["ok"])
    one = (
        await api.get("/api/compliance", department="세무", **{"from": since, "to": until})
    ).json()
    assert [c["department"] for c in one] == ["세무"]


async def test_weekly_report_is_the_reports_data(api: fa.Api) -> None:
    r = await api.get("/api/reports/weekly", week="2026-W48", department="민원")
    assert r.status_code == 200, r.text
    want = build.weekly_report(api.store, fx.site(), "2026-W48", department="민원")
    assert r.json() == want.to_dict()
    assert r.json()["departments"][0]["compliance"]["volume"]["offered"] > 0
    lead = await api.get("/api/reports/weekly", who="lead_b", week="2026-W48")
    assert [d["compliance"]["department"] for d in lead.json()["departments"]] == ["세무"]


# -- bad parameters -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/calls?from=yesterday",
        "/api/calls?from=2026-11-24T00:00:00Z&to=2026-11-23T00:00:00Z",
        "/api/calls?to=99999-01-01",
        "/api/calls?limit=0",
        "/api/calls?limit=501",
        "/api/calls?limit=ten",
        "/api/calls?cursor=not-a-cursor",
        "/api/calls?cursor=WzEsMiwzXQ",
        "/api/calls?department=없는과",
        "/api/calls?rule=smile",
        "/api/calls?breached=maybe",
        "/api/breaches?department=없는과",
        "/api/breaches?cursor=WyJ4Il0",
        "/api/callbacks?status=pending",
        "/api/compliance?from=2026-13-01",
        "/api/compliance?department=없는과",
        "/api/reports/weekly",
        "/api/reports/weekly?week=2026-W60",
        "/api/reports/weekly?week=last",
        "/api/reports/weekly?week=2026-W48&department=없는과",
        "/api/live?department=없는과",
        "/api/live?kinds=calls",
    ],
)
async def test_bad_parameters_are_a_clear_4xx(api: fa.Api, path: str) -> None:
    r = await api.client.get(path, headers={"Authorization": f"Bearer {api.tokens['admin']}"})
    assert 400 <= r.status_code < 500, (path, r.status_code, r.text)
    assert r.json()["detail"]


async def test_a_document_missing_keys_is_completed_from_its_row(api: fa.Api) -> None:
    """Rows written by other tools (a bulk loader, an older version) still answer 200."""
    from sqlalchemy import update

    from callwatch.store import tables

    with api.store.engine.begin() as conn:
        conn.execute(
            update(tables.calls)
            .where(tables.calls.c.id == "answered3@callwatch.test")
            .values(document={"call": "answered3@callwatch.test"})
        )
    r = await api.get("/api/calls/answered3@callwatch.test")
    assert r.status_code == 200, r.text
    call = r.json()["call"]
    assert call["caller"] == "01012345678" and call["department"] == "민원"
    assert call["started_at"].startswith("2026-11-23T") and call["breached"] is True
    assert (await api.get("/api/calls", limit=500)).status_code == 200


def test_the_api_call_schema_has_every_field_ingest_writes() -> None:
    """The API's response models list the JSON of ``callwatch ingest`` field for field, so a
    field added to the call record cannot reach the store and then fail every API response."""
    from callwatch.api.schemas import Call, Transfer

    rows = fx.expected_rows(fx.pcaps())
    call_keys = {k for row in rows for k in row}
    transfer_keys = {k for row in rows for t in row.get("transfers", []) for k in t}
    api_call = {f.alias or name for name, f in Call.model_fields.items()} - {"breached", "tag"}
    api_transfer = {f.alias or name for name, f in Transfer.model_fields.items()}
    assert call_keys == api_call
    assert transfer_keys <= api_transfer
