"""Probe calls are stored tagged ``probe`` and never count against staff: the recorded probe
calls of sip_fixtures/probe/ (real pyVoIP probe phone, real Asterisk 22, its HEP copies) saved
beside staff calls of sip_fixtures/asterisk/ leave every figure as the staff calls alone give
it (compliance, the API's and the reports' figures, the dashboard's feed and callbacks, the
department page), on SQLite and PostgreSQL. The fixture office's charter is made stricter
(answer before ring 2) so that the probe calls breach it too."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

import test_store_fixtures as fx
from callwatch.api.auth import Principal
from callwatch.calls.model import Call, Leg
from callwatch.capture import CaptureStats, read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline, JudgedCall, Output
from callwatch.probe.tagging import call_tag, is_probe_call_id, new_call_id
from callwatch.reports import build
from callwatch.reports.weeks import week_of
from callwatch.settings import load_settings
from callwatch.site import SiteConfig
from callwatch.store import Store, tables
from callwatch.web import dashboard, views
from callwatch.web.queries import recent_breaches

ROOT = Path(__file__).resolve().parents[1]
SITE_FILE = ROOT / "sip_fixtures" / "asterisk" / "site.toml"
NAJU = ROOT / "src" / "callwatch" / "charter" / "profiles" / "naju.toml"
PROBE_CAPTURE = ROOT / "sip_fixtures" / "probe" / "probe_calls.hep.pcap"
STAFF_CAPTURES = [ROOT / "sip_fixtures" / "asterisk" / f"{n}.hep.pcap" for n in
                  ("busy", "direct_answer", "no_answer", "ring_group")]  # fmt: skip
PROBE_NUMBER = "01099990000"

_pg_cleanup = fx._pg_cleanup
pg_database = fx.pg_database
database_url = fx.database_url


def _outputs(*captures: Path) -> list[Output]:
    out: list[Output] = []
    for capture in captures:
        pipe = CallPipeline(SITE)
        for packet in read_capture(capture, CaptureStats()):
            out += pipe.push(packet)
        out += pipe.flush()
    return out


def _calls(outputs: list[Output]) -> list[Call]:
    return [o.call for o in outputs if isinstance(o, JudgedCall)]


def _store(url: str, outputs: list[Output], *, callers: frozenset[str] = frozenset()) -> Store:
    store = Store.open(url, site=SITE.name, probe_callers=callers)
    store.upgrade()
    store.save(outputs)
    return store


def _tags(store: Store) -> dict[str, str | None]:
    c = tables.calls.c
    with store.engine.connect() as conn:
        return dict(conn.execute(select(c.id, c.tag)).all())


def _figures(store: Store, start: int, end: int) -> dict[str, object]:
    viewer = views.Viewer(Principal("t", "admin"), "en")
    week = week_of(start, SITE.timezone)
    dash = dashboard.dashboard(store, SITE, viewer, end)
    dept = views.department(store, SITE, viewer, "민원", week)
    return {
        "compliance": build.compliance(store, SITE, start, end),
        "report": build.weekly_report(store, SITE, week).departments,
        "verdict_counts": store.verdict_counts(),
        "feed": recent_breaches(store, SITE.name, before=end),
        "callbacks": [cb.call for cb in store.callbacks(status="open", staff=True)],
        "dashboard": (dash["departments"], dash["callbacks"], dash["feed"]),
        "department": (dept["part"], dept["breaches"]),
    }


def _strict_site(directory: Path) -> SiteConfig:
    strict = NAJU.read_text(encoding="utf-8").replace('id = "naju"', 'id = "strict"')
    (directory / "strict.toml").write_text(strict.replace("before_ring = 3", "before_ring = 2"))
    text = SITE_FILE.read_text(encoding="utf-8").replace(
        'charter = "naju"', 'charter = "strict"\nprofiles = ["strict.toml"]'
    )
    (directory / "site.toml").write_text(text, encoding="utf-8")
    return load_site(directory / "site.toml")


SITE: SiteConfig


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Output], list[Output]]:
    global SITE
    SITE = _strict_site(tmp_path_factory.mktemp("site"))
    probes, staff = _outputs(PROBE_CAPTURE), _outputs(*STAFF_CAPTURES)
    assert len(_calls(probes)) == 3 and len(_calls(staff)) == 4
    return probes, staff


def test_the_recorded_probe_calls_are_tagged_by_their_call_id(
    recorded: tuple[list[Output], list[Output]],
) -> None:
    probes, staff = recorded
    for call in _calls(probes):
        assert call.caller == PROBE_NUMBER
        assert call_tag(call) == "probe"  # no caller number given: the Call-ID alone
    assert [call_tag(c) for c in _calls(staff)] == [None] * 4


def test_a_call_from_the_probe_number_is_tagged_whatever_its_call_id() -> None:
    leg = Leg(leg="a", call_id="x@pbx", role="caller", from_user=PROBE_NUMBER, to_user="2001",
              dialled="0613390001", offered_at=1)  # fmt: skip
    call = Call("x", "inbound", PROBE_NUMBER, "0613390001", 1, legs=[leg])
    assert call_tag(call) is None
    # the probe's number is a setting (CALLWATCH_PROBE_USER), handed to whoever tags calls
    callers = load_settings(None, {"CALLWATCH_PROBE_USER": PROBE_NUMBER}).probe_callers
    assert call_tag(call, callers) == "probe"
    assert load_settings(None, {}).probe_callers == frozenset()
    assert load_settings(None, {"CALLWATCH_PROBE_USER": " "}).probe_callers == set()


def test_probe_call_ids_have_one_form() -> None:
    call_id = new_call_id("127.0.14.30", "0123456789abcdef01234567")
    assert call_id == "probe-0123456789abcdef01234567@127.0.14.30" and is_probe_call_id(call_id)
    assert not is_probe_call_id("probe-123@host") and not is_probe_call_id(None)
    with pytest.raises(ValueError):
        new_call_id("h", "not hex")


def test_probe_calls_are_stored_tagged_and_never_count_against_staff(
    database_url: str, recorded: tuple[list[Output], list[Output]]
) -> None:
    probes, staff = recorded
    times = [c.started_at for c in _calls(probes + staff)]
    start, end = min(times) - 1, max(times) + 86_400_000_000
    both = _store(database_url, probes + staff)
    try:
        tags = _tags(both)
        assert {tags[c.id] for c in _calls(probes)} == {"probe"}
        assert {tags[c.id] for c in _calls(staff)} == {None}
        # the probe calls were judged like any call (verdicts, callbacks): only the figures
        # leave them out
        v = tables.verdicts.c
        with both.engine.connect() as conn:
            judged = conn.execute(
                select(v.rule, v.ok).where(v.call_id.in_([c.id for c in _calls(probes)]))
            ).all()
        assert ("answer", False) in judged  # the probe calls breach the stricter charter
        assert {cb.call for cb in both.callbacks(status="open")} > set(
            _figures(both, start, end)["callbacks"]  # type: ignore[arg-type]
        )
        with_probes = _figures(both, start, end)
    finally:
        both.close()
    alone = _store(database_url.replace(".sqlite", "-staff.sqlite"), staff) if (
        database_url.startswith("sqlite")
    ) else None  # fmt: skip
    if alone is None:  # PostgreSQL: the same database, the probe calls deleted
        alone = Store.open(database_url, site=SITE.name)
        with alone.engine.begin() as conn:
            ids = [c.id for c in _calls(probes)]
            for table, column in ((tables.verdicts, "call_id"), (tables.callbacks, "call_id")):
                conn.execute(table.delete().where(table.c[column].in_(ids)))
            conn.execute(tables.calls.delete().where(tables.calls.c.id.in_(ids)))
    try:
        staff_only = _figures(alone, start, end)
    finally:
        alone.close()
    assert with_probes == staff_only
    assert staff_only["verdict_counts"] and staff_only["callbacks"]  # figures to compare


def test_saving_a_probe_call_again_keeps_its_tag(
    database_url: str, recorded: tuple[list[Output], list[Output]]
) -> None:
    probes, _ = recorded
    store = _store(database_url, probes, callers=frozenset({PROBE_NUMBER}))
    try:
        store.save(probes)
        assert set(_tags(store).values()) == {"probe"}
    finally:
        store.close()
