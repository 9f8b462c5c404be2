"""A trainer, and an export made for anyone, never see a caller's number in the forms the SIP
text really carries: a letter before the user part (``P01077770011``), a number inside a
Call-ID, display names with spaces, dots or Hangul. Real fixture dialogues with those bytes
put in, stored as the service stores them, read through the real API and pages."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

import test_api_fixtures as fa
import test_store_fixtures as fx
from callwatch.cli import _raw_message
from callwatch.store import Store
from capture_rewrite import rewrite

SECRETS = ("1077770011", "1077770014", "1077770006", "1077770008", "1077770007")
CALL_ID = "01077770014-callid@pbx.example"
_SEPARATED = re.compile(r"(?<=\d)[-. ()]+(?=\d)")


def leaked(text: str) -> list[str]:
    digits = _SEPARATED.sub("", text)
    return [s for s in SECRETS if s in digits]


def hostile_captures(folder: Path) -> list[Path]:
    return [
        rewrite(
            "missed_then_callback_40min",
            {
                b"From: <sip:0613398731": b'From: "010 7777 0006" <sip:P01077770011',
                b"0613398731": b"P01077770011",
                b"missed-40min@callwatch.test": CALL_ID.encode(),
            },
            folder / "missed.pcap",
        ),
        rewrite("busy", {b"From: <sip:": b'From: "010.7777.0008" <sip:'}, folder / "busy.pcap"),
        rewrite(
            "answered_3rd_ring",
            {b"From: <sip:": 'From: "홍길동01077770007" <sip:'.encode()},
            folder / "answered.pcap",
        ),
    ]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[fa.Api]:
    store = Store.open(f"sqlite:///{tmp_path / 'p.sqlite'}", site=fx.site().name)
    store.upgrade()
    store.sync_directory(fx.site())
    for path in hostile_captures(tmp_path):
        raw = [m for packet in fx.packets(path) for m in _raw_message(packet)]
        store.save([*fx.outputs(path), *raw])
    app, ctx, tokens = fa.make_app(store, tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://callwatch") as client:
        yield fa.Api(app, store, ctx, tokens, client)
    store.close()


async def test_the_store_holds_the_numbers_so_the_scan_is_not_vacuous(api: fa.Api) -> None:
    admin = (await api.get(f"/api/calls/{quote(CALL_ID)}")).text
    assert set(leaked(admin)) >= {"1077770011", "1077770014", "1077770006"}
    for call in ("busy@callwatch.test", "answered3@callwatch.test"):
        assert leaked((await api.get(f"/api/calls/{call}")).text), call


async def test_a_trainer_sees_none_of_them_through_the_api(api: fa.Api) -> None:
    breaches = await api.get("/api/breaches", who="trainer", limit=500)
    assert breaches.status_code == 200 and leaked(breaches.text) == []
    calls = {b["call"] for b in breaches.json()["items"]}
    assert "answered3@callwatch.test" in calls  # no number in it: kept as it is
    refs = [c for c in calls if c.startswith("ref-")]
    assert len(refs) == 1  # the Call-ID with the number, sealed
    for call in [*calls, "busy@callwatch.test"]:
        r = await api.get(f"/api/calls/{quote(call, safe='')}", who="trainer")
        assert r.status_code == 200, (call, r.text[:200])
        assert leaked(r.text) == [], (call, leaked(r.text))
    detail = (await api.get(f"/api/calls/{refs[0]}", who="trainer")).json()
    assert detail["call"]["caller"] == "P010-****-0011"
    assert any('"010-****-0006"' in m["text"] for m in detail["messages"])
    # the raw Call-ID typed by hand is refused without echoing it
    r = await api.get(f"/api/calls/{quote(CALL_ID)}", who="trainer")
    assert leaked(r.text) == []


async def test_pages_for_a_trainer_and_the_export_for_anyone(api: fa.Api) -> None:
    client = api.client
    r = await client.post("/login", data={"token": api.tokens["trainer"], "next": "/training"})
    assert r.status_code in (200, 303)
    training = await client.get("/training?weeks=52", follow_redirects=True)
    assert training.status_code == 200 and leaked(training.text) == []
    links = sorted(set(re.findall(r'href="(/calls/[^"]+)"', training.text)))
    assert any("ref-" in link for link in links), links
    for link in links:
        page = await client.get(link)
        assert page.status_code == 200, link
        assert leaked(page.text) == [], (link, leaked(page.text))
        export = await client.get(link + "/export")
        assert export.status_code == 200 and leaked(export.text) == [], link
    client.cookies.clear()
    await client.post("/login", data={"token": api.tokens["admin"], "next": "/"})
    for call in (CALL_ID, "busy@callwatch.test", "answered3@callwatch.test"):
        replay = await client.get(f"/calls/{quote(call, safe='')}")
        assert replay.status_code == 200 and leaked(replay.text), call  # an admin sees them
        export = await client.get(f"/calls/{quote(call, safe='')}/export")
        assert export.status_code == 200, call
        assert leaked(export.text) == [], (call, leaked(export.text))
        assert leaked(export.headers["content-disposition"]) == []


@pytest.mark.parametrize(
    ("user", "shown"),
    [
        ("P01077770011", "P010-****-0011"),
        ("010 7777 0006", "010-****-0006"),
        ("010.7777.0008", "010-****-0008"),
        ("홍길동01077770007", "홍길동010-****-0007"),
        ("2001", "2001"),
        ("anonymous", "anonymous"),
    ],
)
def test_mask_party_of_the_bus_payloads_finds_them_too(user: str, shown: str) -> None:
    from callwatch.privacy import mask_party

    assert mask_party(user, fx.site().directory.is_ours) == shown
