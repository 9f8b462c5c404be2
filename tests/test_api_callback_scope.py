"""``POST /api/callbacks`` keeps to the token's departments in the store *and* in the running
service's callback book, and refuses times out of bounds with 422."""

from __future__ import annotations

from pathlib import Path

import pytest

import test_api_fixtures as fa
import test_store_fixtures as fx
from callwatch.api import queries
from capture_rewrite import rewrite

api = fa.api
filled_store = fa.filled_store
_filled_file = fa._filled_file

CIVIL = ("busy@callwatch.test", "cancel@callwatch.test", "noanswer@callwatch.test")
TAX = "busy-tax@callwatch.test"


@pytest.fixture
async def two_departments(api: fa.Api, tmp_path: Path) -> fa.Api:
    """The same caller (01012345678) also missed by 세무 (a busy call to 3001), and the
    running service's book holding every waiting callback, as after a restart."""
    tax = rewrite(
        "busy",
        {b"2001": b"3001", b"busy@callwatch.test": TAX.encode()},
        tmp_path / "busy-tax.pcap",
    )
    api.store.save(fx.outputs(tax))
    api.context.book.restore(queries.waiting_callbacks(api.store, None))
    assert api.context.book.get(TAX) is not None
    return api


async def test_a_lead_moves_only_their_departments_callbacks_in_the_live_book(
    two_departments: fa.Api,
) -> None:
    api = two_departments
    book = api.context.book
    before = {call: book.get(call) for call in CIVIL}
    body = {
        "number": "010-1234-5678",
        "asked_at": "2026-11-23T11:20:00Z",
        "due_at": "2026-11-23T15:00:00Z",
    }
    r = await api.post("/api/callbacks", body, who="lead_b")
    assert r.status_code == 200, r.text
    assert [c["call"] for c in r.json()["items"]] == [TAX]
    assert book.get(TAX).requested and book.get(TAX).due_at == fx_time("2026-11-23T15:00:00Z")
    for call, cb in before.items():  # 민원's callbacks in the running book are untouched
        assert book.get(call) == cb, call
    stored = {cb.call: cb for cb in queries.waiting_callbacks(api.store, None)}
    for call in CIVIL:
        assert not stored[call].requested, call


def fx_time(text: str) -> int:
    from callwatch.timefmt import parse_iso

    return parse_iso(text)


@pytest.mark.parametrize(
    ("asked", "due", "words"),
    [
        ("2026-11-23T11:20:00Z", "2099-01-01T00:00:00Z", "due_at"),
        ("2026-11-23T11:20:00Z", "2026-12-08T11:20:00Z", "due_at"),  # 15 days after the ask
        ("2026-11-23T11:20:00Z", "2026-11-23T11:19:00Z", "due_at"),  # before the ask
        ("2099-01-01T00:00:00Z", "2099-01-01T01:00:00Z", "asked_at"),  # in the future
        ("2026-12-20T00:00:00Z", "2026-12-20T01:00:00Z", "asked_at"),  # weeks after the call
    ],
)
async def test_times_out_of_bounds_are_422(api: fa.Api, asked: str, due: str, words: str) -> None:
    body = {"number": "01012345678", "asked_at": asked, "due_at": due}
    r = await api.post("/api/callbacks", body, who="lead_a")
    assert r.status_code == 422, r.text
    assert words in r.json()["detail"]
    stored = queries.waiting_callbacks(api.store, None)
    assert stored and not any(cb.requested for cb in stored)
    assert not any(cb.requested for cb in api.context.book.open_callbacks())
