"""Probe calls in the lists: ``/api/calls``, ``/api/breaches``, ``/api/callbacks`` and the
explorer (page and exports) keep to the staff's calls unless ``tag=probe`` (or ``all``) is
asked, and every call and breach says its ``tag``.

The store holds the recorded probe calls of sip_fixtures/probe/ (real pyVoIP probe, real
Asterisk 22, its HEP copies) beside the staff calls of sip_fixtures/asterisk/, on SQLite and
PostgreSQL. The office's charter is made stricter (answer before ring 2, as in
test_probe_tagging.py) so that the probe calls breach it too."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

import test_store_fixtures as fx
from callwatch.api.auth import TokenStore
from callwatch.api.context import ApiContext
from callwatch.capture import CaptureStats, read_capture
from callwatch.http import create_app
from callwatch.pipeline import CallPipeline, JudgedCall, Output
from callwatch.site import SiteConfig
from callwatch.store import Store
from callwatch.timefmt import parse_iso
from callwatch.web import WebContext
from test_probe_tagging import PROBE_CAPTURE, STAFF_CAPTURES, _strict_site

_pg_cleanup = fx._pg_cleanup
pg_database = fx.pg_database
database_url = fx.database_url
NOW = parse_iso("2026-12-06T06:00:00Z")


def _outputs(site: SiteConfig, *captures: Path) -> list[Output]:
    out: list[Output] = []
    for capture in captures:
        pipe = CallPipeline(site)
        for packet in read_capture(capture, CaptureStats()):
            out += pipe.push(packet)
        out += pipe.flush()
    return out


def _probe_ids(outputs: list[Output]) -> set[str]:
    return {o.call.id for o in outputs if isinstance(o, JudgedCall)}


@pytest.fixture(scope="module")
def strict(tmp_path_factory: pytest.TempPathFactory) -> SiteConfig:
    return _strict_site(tmp_path_factory.mktemp("site"))


@pytest.fixture
def world(database_url: str, strict: SiteConfig) -> Iterator[dict[str, Any]]:
    store = Store.open(database_url, site=strict.name, probe_callers=frozenset())
    store.upgrade()
    probes = _outputs(strict, PROBE_CAPTURE)
    staff = _outputs(strict, *STAFF_CAPTURES)
    store.save(staff + probes)
    book = TokenStore(store.engine)
    tokens = {"admin": book.create("admin")[1], "trainer": book.create("trainer")[1]}
    service = SimpleNamespace(site=strict, sinks=[], metrics=None, readiness=dict)
    app = create_app(service, api=ApiContext(store=store, site=strict))  # type: ignore[arg-type]
    app.state.web = WebContext(strict, store, book.verify, clock=lambda: NOW)
    from starlette.testclient import TestClient

    try:
        with TestClient(app, base_url="http://testserver") as client:
            yield {
                "client": client,
                "tokens": tokens,
                "probes": _probe_ids(probes),
                "staff": _probe_ids(staff),
            }
    finally:
        store.close()


def _get(w: dict[str, Any], path: str, role: str = "admin", **params: str) -> Any:
    auth = {"Authorization": f"Bearer {w['tokens'][role]}"}
    r = w["client"].get(path, params={"from": "2026-12-01T00:00:00Z", **params}, headers=auth)
    assert r.status_code == 200, r.text
    return r.json()


def test_the_api_lists_keep_to_staff_calls_unless_asked(world: dict[str, Any]) -> None:
    probes, staff = world["probes"], world["staff"]
    assert len(probes) == 3 and len(staff) == 4
    calls = _get(world, "/api/calls")["items"]
    assert {c["call"] for c in calls} == staff and {c["tag"] for c in calls} == {None}
    calls = _get(world, "/api/calls", tag="probe")["items"]
    assert {c["call"] for c in calls} == probes and {c["tag"] for c in calls} == {"probe"}
    assert {c["call"] for c in _get(world, "/api/calls", tag="all")["items"]} == probes | staff
    one = next(iter(probes))
    assert _get(world, f"/api/calls/{one}")["call"]["tag"] == "probe"

    breaches = _get(world, "/api/breaches")["items"]
    assert breaches and {b["call"] for b in breaches} <= staff
    assert {b["tag"] for b in breaches} == {None}
    probe_breaches = _get(world, "/api/breaches", tag="probe")["items"]
    assert {b["rule"] for b in probe_breaches} == {"answer"}  # the stricter charter
    assert {b["call"] for b in probe_breaches} <= probes
    assert {b["tag"] for b in probe_breaches} == {"probe"}
    both = _get(world, "/api/breaches", tag="all")["items"]
    assert len(both) == len(breaches) + len(probe_breaches)
    # a trainer's masked answer still says which calls are probe calls
    masked = _get(world, "/api/breaches", role="trainer", tag="probe")["items"]
    assert [b["tag"] for b in masked] == ["probe"] * len(probe_breaches)


def test_probe_callbacks_are_listed_only_when_asked(world: dict[str, Any]) -> None:
    staff_cbs = _get(world, "/api/callbacks")["items"]
    probe_cbs = _get(world, "/api/callbacks", tag="probe")["items"]
    assert staff_cbs and {c["call"] for c in staff_cbs} <= world["staff"]
    assert probe_cbs and {c["call"] for c in probe_cbs} <= world["probes"]
    assert len(_get(world, "/api/callbacks", tag="all")["items"]) == len(staff_cbs) + len(probe_cbs)


def test_an_unknown_tag_is_refused(world: dict[str, Any]) -> None:
    auth = {"Authorization": f"Bearer {world['tokens']['admin']}"}
    for path in ("/api/calls", "/api/breaches", "/api/callbacks"):
        r = world["client"].get(path, params={"tag": "staffx"}, headers=auth)
        assert r.status_code == 422, (path, r.text)


def _login(world: dict[str, Any]) -> None:
    r = world["client"].post(
        "/login", data={"token": world["tokens"]["admin"], "next": "/"}, follow_redirects=False
    )
    assert r.status_code == 303


def test_the_explorer_keeps_to_staff_calls_unless_asked(world: dict[str, Any]) -> None:
    _login(world)
    client = world["client"]
    base = "/explore?from=2026-12-01T00:00"
    for kind in ("breaches", "calls"):
        page = client.get(f"{base}&kind={kind}").text
        assert 'data-tag="probe"' not in page and 'data-call="' in page
        assert not any(f'data-call="{c}"' in page for c in world["probes"])
        probes = client.get(f"{base}&kind={kind}&tag=probe").text
        assert 'data-tag="probe"' in probes and "시험 전화</span>" in probes
        assert not any(f'data-call="{c}"' in probes for c in world["staff"])
        assert '<option value="probe" selected>' in probes
    listed = client.get(f"{base}&kind=calls&tag=all").text
    assert all(f'data-call="{c}"' in listed for c in world["probes"] | world["staff"])
    export = client.get("/explore/export.csv?from=2026-12-01T00:00&kind=calls&tag=all")
    assert export.status_code == 200
    rows = list(csv.DictReader(io.StringIO(export.content.decode("utf-8-sig"))))
    tags = {r["call"]: r["tag"] for r in rows}
    assert {c for c, t in tags.items() if t == "probe"} == world["probes"]
    assert {c for c, t in tags.items() if t == ""} == world["staff"]
