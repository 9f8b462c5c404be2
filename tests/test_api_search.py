"""Search by caller number and Call-ID in ``/api/calls`` and ``/api/breaches``, and the
explorer's sorted, counted searches (:mod:`callwatch.api.search`), on the fixtures' calls in
SQLite and PostgreSQL. A trainer finds a call by a whole number only and never sees it."""

from __future__ import annotations

import pytest

import test_api_fixtures as fa
import test_store_fixtures as fx
from callwatch.api import search
from callwatch.api.queries import CallFilter, number_digits
from test_api_data import all_pages, any_api, expected

api = fa.api
filled_store = fa.filled_store
_filled_file = fa._filled_file
_pg_cleanup = fx._pg_cleanup
pg_database = fx.pg_database
database_url = fx.database_url
__all__ = ["any_api"]

NUMBER = "01012345678"


def _calls_with(predicate) -> set[str]:
    return {r["call"] for r in expected() if predicate(r)}


def _breached(row: dict) -> list[dict]:
    return [v for v in row["verdicts"] if not v["ok"]]


def test_number_digits() -> None:
    assert number_digits("010-1234-5678") == NUMBER
    assert number_digits("+82 10 1234 5678") == NUMBER
    assert number_digits(" (061) 339-8731 ") == "0613398731"
    assert number_digits("anonymous") is None
    assert number_digits("010-12x4") is None


async def test_admin_finds_calls_by_any_part_of_a_number(any_api: fa.Api) -> None:
    whole = await all_pages(any_api, "/api/calls", caller="+82-10-1234-5678")
    assert {c["call"] for c in whole} == _calls_with(lambda r: r["caller"] == NUMBER)
    assert whole, "the fixtures have calls from 010-1234-5678"
    part = await all_pages(any_api, "/api/calls", caller="1234")
    assert {c["call"] for c in part} == _calls_with(lambda r: "1234" in (r["caller"] or ""))
    other = await all_pages(any_api, "/api/calls", caller="0613398731")
    assert {c["call"] for c in other} == _calls_with(lambda r: r["caller"] == "0613398731")
    bad = await any_api.get("/api/calls", caller="anonymous")
    assert bad.status_code == 400 and "not a phone number" in bad.json()["detail"]


async def test_trainer_searches_by_a_whole_number_and_sees_it_masked(api: fa.Api) -> None:
    wanted = {
        (r["call"], v["rule"]) for r in expected() if r["caller"] == NUMBER for v in _breached(r)
    }
    assert wanted
    r = await api.get("/api/breaches", who="trainer", caller="010-1234-5678", limit=500)
    assert r.status_code == 200
    items = r.json()["items"]
    assert len(items) == len(wanted)
    assert fa.unmasked_numbers(r.text) == []
    assert {i["caller"] for i in items} == {"010-****-5678"}
    # a part of the number finds nothing: no digit is revealed one guess at a time
    for part in ("1234", "010123", "12345678"):
        r = await api.get("/api/breaches", who="trainer", caller=part)
        assert r.status_code == 200 and r.json()["items"] == [], part
    admin = await api.get("/api/breaches", caller="12345678", limit=500)
    assert len(admin.json()["items"]) == len(wanted)


async def test_call_id_search(api: fa.Api) -> None:
    rows = expected()
    target = next(r for r in rows if _breached(r) and len(r["call"]) > 12)
    part = target["call"][2:10]
    r = await api.get("/api/calls", call=part, limit=500)
    found = {c["call"] for c in r.json()["items"]}
    assert target["call"] in found
    assert found == {
        x["call"] for x in rows if part in x["call"] or any(part in leg for leg in x["legs"])
    }
    r = await api.get("/api/calls", call=target["call"])
    assert [c["call"] for c in r.json()["items"]] == [target["call"]]
    r = await api.get("/api/calls", call=target["legs"][-1])
    assert target["call"] in {c["call"] for c in r.json()["items"]}
    # a trainer: whole Call-IDs (or the references they were shown), never a part
    listed = await api.get("/api/breaches", who="trainer", limit=500)
    shown = listed.json()["items"][0]["call"]
    again = await api.get("/api/breaches", who="trainer", call=shown, limit=500)
    assert again.status_code == 200
    assert {i["call"] for i in again.json()["items"]} == {shown}
    whole = await api.get("/api/breaches", who="trainer", call=target["call"], limit=500)
    assert len(whole.json()["items"]) == len(_breached(target))
    r = await api.get("/api/breaches", who="trainer", call=part)
    assert r.json()["items"] == []
    gone = await api.get("/api/breaches", who="trainer", call="ref-" + "A" * 40)
    assert gone.status_code == 400


@pytest.mark.parametrize("sort", search.BREACH_SORTS)
async def test_breach_search_sorts_counts_and_pages(any_api: fa.Api, sort: str) -> None:
    store = any_api.store
    where = CallFilter(fx.site().name)
    breaches = [(r, v) for r in expected() for v in _breached(r)]
    for descending in (True, False):
        wanted = search.Search(where, "breaches", sort, descending)
        offsets = range(0, len(breaches) + 7, 7)
        pages = [search.page(store, wanted, offset, 7) for offset in offsets]
        rows = [row for p in pages for row in p.rows]
        assert all(p.total == len(breaches) for p in pages)
        assert len(rows) == len(breaches)
        assert len({(r["call"], r["source"], r["position"]) for r in rows}) == len(rows)
        key = {
            "time": "started_us",
            "department": "department",
            "rule": "rule",
            "extension": "answered_by",
            "measured": "measured",
        }[sort]
        values = [r[key] for r in rows]
        present = [v for v in values if v is not None]
        assert present == sorted(present, reverse=descending)
        assert values[len(present) :] == [None] * (len(values) - len(present))  # nulls last
        assert list(search.every_row(store, wanted)) == rows


async def test_call_search_lists_breached_rules(any_api: fa.Api) -> None:
    where = CallFilter(fx.site().name, rule="answer", breached=None)
    found = search.page(any_api.store, search.Search(where, "calls", "ring", False), 0, 500)
    judged = _calls_with(lambda r: any(v["rule"] == "answer" for v in r["verdicts"]))
    assert {r["call"] for r in found.rows} == judged and found.total == len(judged)
    by_call = {r["call"]: r for r in expected()}
    for row in found.rows:
        assert row["breaches"] == list(
            dict.fromkeys(v["rule"] for v in _breached(by_call[row["call"]]))
        )
    rings = [r["ring_seconds"] for r in found.rows if r["ring_seconds"] is not None]
    assert rings == sorted(rings)
    with pytest.raises(ValueError):
        search.Search(where, "calls", "rule")
