"""The rule registry: a rule declared once is read from charter files, judged, named in both
languages, offered by the API, drawn in the charts, headed in the table and counted in the
reports, with no other file edited.

A toy rule, ``quick_answer`` ("answer within ``limit_s`` seconds of the first ring"), is
registered for the length of a test. A charter file holding its table is the Naju charter
plus ``[quick_answer] limit_s = 3``, used by a copy of ``examples/site.toml``; the calls are
the real captures of ``sip_fixtures/``, through the real pipeline, store, app and pages.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import test_api_fixtures as fa
from callwatch import cli
from callwatch.api.auth import Principal
from callwatch.calls.model import Call
from callwatch.capture import CaptureStats, read_capture
from callwatch.charter import registry
from callwatch.charter.errors import ProfileError
from callwatch.charter.profile import Profile, Section
from callwatch.charter.registry import HOUR, MINUTE, SECOND, RuleSpec, worded
from callwatch.charter.rules import judge
from callwatch.charter.verdict import Verdict
from callwatch.config import load_site
from callwatch.i18n import RULES, catalogue, keys, t
from callwatch.pipeline import CallPipeline, JudgedCall, Output
from callwatch.profile_files import parse_profile
from callwatch.reports import data
from callwatch.reports.weeks import week_of
from callwatch.store import Store
from callwatch.table import write_table
from callwatch.web import dashboard, views
from callwatch.web.charts import rule_color

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "sip_fixtures"
NAJU_FILE = ROOT / "src" / "callwatch" / "charter" / "profiles" / "naju.toml"
TOY_TABLE = '\n[quick_answer]\nlimit_s = 3.0\nsource = "벨이 울리면 3초 안에 받겠습니다."\n'
US = 1_000_000


def quick_answer(call: Call, profile: Profile) -> list[Verdict]:
    """Answered within ``limit_s`` of the first ring (inbound, complete, answered calls)."""
    table = profile.section("quick_answer")
    if not isinstance(table, Section) or call.direction != "inbound" or not call.complete:
        return []
    if call.first_ring_at is None or call.answered_at is None:
        return []
    limit = float(table.get("limit_s") or 0)
    waited = call.answered_at - call.first_ring_at
    return [
        Verdict(
            rule="quick_answer",
            charter=profile.id,
            ok=waited <= round(limit * US),
            measured=round(waited / US, 6),
            limit=limit,
        )
    ]


TOY = RuleSpec(
    name="quick_answer",
    title_ko="빠른 응답",
    title_en="Quick answer",
    unit=SECOND,
    section="quick_answer",
    keys=("limit_s", "source"),
    on_call=quick_answer,
)


@pytest.fixture
def toy() -> Iterator[RuleSpec]:
    registry.register(TOY)
    try:
        yield TOY
    finally:
        registry.unregister(TOY.name)


@pytest.fixture
def toy_site_file(toy: RuleSpec, tmp_path: Path) -> Path:
    """A site whose departments all follow the toy charter (Naju + ``[quick_answer]``)."""
    charter = NAJU_FILE.read_text(encoding="utf-8").replace('id = "naju"', 'id = "toy"')
    (tmp_path / "toy.toml").write_text(charter + TOY_TABLE, encoding="utf-8")
    site = (ROOT / "examples" / "site.toml").read_text(encoding="utf-8")
    site = site.replace('charter = "naju"', 'charter = "toy"\nprofiles = ["toy.toml"]', 1)
    site = site.replace('charter = "mokpo"', 'charter = "toy"')
    path = tmp_path / "site.toml"
    path.write_text(site, encoding="utf-8")
    return path


def run(site_file: Path, capture: str) -> list[Output]:
    site = load_site(site_file)
    pipe = CallPipeline(site)
    out: list[Output] = []
    for packet in read_capture(FIXTURES / capture, CaptureStats()):
        out.extend(pipe.push(packet))
    out.extend(pipe.flush())
    return out


def judged(out: list[Output]) -> list[JudgedCall]:
    return [o for o in out if isinstance(o, JudgedCall)]


def test_the_built_in_rules_in_order() -> None:
    assert registry.names() == ("answer", "transfer", "hangup", "callback")
    assert list(RULES) == ["answer", "transfer", "hangup", "callback"]
    assert [r.unit for r in registry.rules()] == [SECOND, SECOND, None, MINUTE]


def test_durations_are_worded_as_the_charters_word_them() -> None:
    assert worded(10) == (10, SECOND)
    assert worded(1800) == (30, MINUTE)
    assert worded(3600) == (1, HOUR) and worded(10800) == (3, HOUR)
    assert worded(90) == (90, SECOND)
    naju = parse_profile(NAJU_FILE.read_bytes(), "naju.toml")
    mokpo = parse_profile((NAJU_FILE.parent / "mokpo.toml").read_bytes(), "mokpo.toml")
    assert data.promise(naju, "callback").ko == "1시간 이내 또는 고객이 원하는 시간에 회신"
    assert data.promise(mokpo, "callback").en == (
        "Call back within 3 h or at the time the caller asks"
    )


def test_a_registered_rule_is_read_from_the_charter_file_and_judged(
    toy_site_file: Path,
) -> None:
    (call,) = judged(run(toy_site_file, "answered_3rd_ring.pcap"))
    assert call.profile.section("quick_answer") == Section(
        "quick_answer", (("limit_s", 3.0), ("source", "벨이 울리면 3초 안에 받겠습니다."))
    )
    assert [(v.rule, v.ok, v.measured) for v in call.verdicts] == [
        ("answer", False, 7.007134),
        ("hangup", True, None),
        ("quick_answer", False, 7.007134),
    ]
    assert judge(call.call, call.profile) == call.verdicts
    (fast,) = judged(run(toy_site_file, "answered_1st_ring.pcap"))
    assert [v.rule for v in fast.verdicts if v.ok] == ["answer", "hangup", "quick_answer"]
    # a charter without the table does not make the promise: no verdict, not a pass
    naju = parse_profile(NAJU_FILE.read_bytes(), "naju.toml")
    assert [v.rule for v in judge(call.call, naju)] == ["answer", "hangup"]


def test_the_charter_file_may_hold_only_the_keys_the_rule_declares(toy: RuleSpec) -> None:
    text = NAJU_FILE.read_text(encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        parse_profile(text + TOY_TABLE + "limit_ms = 3000\n", "toy.toml")
    assert info.value.key == "quick_answer.limit_ms"
    with pytest.raises(ProfileError) as info:
        parse_profile(text + '\n[quick_answer]\nlimit_s = [3]\nsource = "x"\n', "toy.toml")
    assert info.value.key == "quick_answer.limit_s"


def test_without_the_rule_its_table_is_an_unknown_key() -> None:
    text = NAJU_FILE.read_text(encoding="utf-8")
    with pytest.raises(ProfileError) as info:
        parse_profile(text + TOY_TABLE, "toy.toml")
    assert info.value.key == "quick_answer"


def test_a_rule_is_registered_once() -> None:
    with pytest.raises(registry.RegistryError):
        registry.register(TOY.__class__(**{**_fields(TOY), "name": "answer"}))
    with pytest.raises(registry.RegistryError):
        registry.register(TOY.__class__(**{**_fields(TOY), "section": "cadence"}))
    with pytest.raises(registry.RegistryError):
        registry.register(TOY.__class__(**{**_fields(TOY), "on_call": None}))
    assert registry.names() == ("answer", "transfer", "hangup", "callback")


def _fields(rule: RuleSpec) -> dict[str, object]:
    return {name: getattr(rule, name) for name in rule.__slots__}


def test_the_catalogue_names_it_in_both_languages(toy: RuleSpec) -> None:
    assert list(RULES) == ["answer", "transfer", "hangup", "callback", "quick_answer"]
    assert t("rule.quick_answer") == "빠른 응답" and t("rule.quick_answer", "en") == "Quick answer"
    assert "rule.quick_answer" in keys()
    assert catalogue("en")["rule.quick_answer"] == "Quick answer"
    assert t("rule.answer", "en") == "Answer speed"  # the built-ins keep their titles


async def test_the_api_offers_it_in_the_rule_enum(
    toy_site_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLWATCH_API_DOCS", "open")  # the schema is read from /openapi.json
    store = Store.open(f"sqlite:///{tmp_path / 'api.sqlite'}", site="naju-cityhall")
    store.upgrade()
    store.sync_directory(load_site(toy_site_file))
    store.save(run(toy_site_file, "answered_3rd_ring.pcap"))
    app, _, tokens = fa.make_app(store, tmp_path)
    headers = {"Authorization": f"Bearer {tokens['admin']}"}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        document = (await client.get("/openapi.json")).json()
        for path in ("/api/calls", "/api/breaches"):
            (param,) = [
                p for p in document["paths"][path]["get"]["parameters"] if p["name"] == "rule"
            ]
            (enum,) = [s["enum"] for s in param["schema"]["anyOf"] if "enum" in s]
            assert enum == ["answer", "transfer", "hangup", "callback", "quick_answer"]
        found = await client.get("/api/breaches", params={"rule": "quick_answer"}, headers=headers)
        assert found.status_code == 200
        assert [(b["rule"], b["measured"]) for b in found.json()["items"]] == [
            ("quick_answer", 7.007134)
        ]
        wrong = await client.get("/api/breaches", params={"rule": "smile"}, headers=headers)
        assert wrong.status_code == 422 and "quick_answer" in wrong.text
    store.close()


def test_the_dashboard_draws_and_counts_it(toy_site_file: Path, tmp_path: Path) -> None:
    site = load_site(toy_site_file)
    store = Store.open(f"sqlite:///{tmp_path / 'web.sqlite'}", site=site.name)
    store.upgrade()
    store.sync_directory(site)
    out = run(toy_site_file, "answered_3rd_ring.pcap")
    store.save(out)
    (call,) = judged(out)
    viewer = views.Viewer(Principal("t", "admin"), "ko")
    page = dashboard.dashboard(store, site, viewer, call.call.started_at)
    civil = next(p for p in page["departments"] if p.department == "민원")
    toy_result = civil.rule("quick_answer")
    assert (toy_result.in_charter, toy_result.passed, toy_result.failed) == (True, 0, 1)
    assert "<!-- 빠른 응답 -->" in page["trend"]["민원"]  # the legend of the trend chart
    assert rule_color("quick_answer") in page["trend"]["민원"]  # and its line
    assert list(page["rules"])[-1] == "quick_answer"
    week = week_of(call.call.started_at, site.timezone)
    dept = views.department(store, site, viewer, "민원", week)
    assert [e.breaches["quick_answer"] for e in dept["part"].extensions] == [1]
    store.close()


def test_the_table_heads_it(toy_site_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pcap = str(FIXTURES / "answered_3rd_ring.pcap")
    assert cli.main(["ingest", "--config", str(toy_site_file), "--format", "table", pcap]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1].endswith("verdicts (answer, transfer, hangup, callback, quick_answer)")
    assert out[2].endswith("answer FAIL 7.0s, hangup ok, quick_answer FAIL 7.0s")
    buf = io.StringIO()
    write_table([], "Asia/Seoul", buf)
    assert "quick_answer" in buf.getvalue()
