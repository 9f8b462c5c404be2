"""The probe section of the weekly report (HTML, PDF, CSV, ko/en): callwatch's own probe calls
per department as a citizen heard them, apart from the staff figures.

The store holds the recorded probe calls of sip_fixtures/probe/ (the real pyVoIP probe's own
records and Asterisk 22's HEP copies of the same calls, run through the pipeline and checked
by the ProbeMonitor) beside the staff calls of sip_fixtures/asterisk/, all in 2026-W49. The
unanswered probe's HEP copies are withheld, so its check is ``missing``. The answered probe
heard 3.003 s of ringback: ring 2 at the naju charter's cadence (1 s on, 2 s off), within the
2 rings the charter allows (answer before ring 3)."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from callwatch import cli
from callwatch.capture import CaptureStats, read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline, JudgedCall, Output
from callwatch.probe.check import ProbeMonitor, check_probe
from callwatch.probe.results import save_result
from callwatch.probe.uac import ProbeRecord
from callwatch.reports.build import weekly_report
from callwatch.reports.data import WeeklyReport
from callwatch.reports.render_csv import PROBE_FIELDS, probes_csv, rules_csv
from callwatch.reports.render_html import render_html
from callwatch.reports.render_pdf import render_pdf
from callwatch.store import Store

ROOT = Path(__file__).resolve().parents[1]
PROBE = ROOT / "sip_fixtures" / "probe"
SITE_FILE = ROOT / "sip_fixtures" / "asterisk" / "site.toml"
SITE = load_site(SITE_FILE)
STAFF = [ROOT / "sip_fixtures" / "asterisk" / f"{n}.hep.pcap" for n in
         ("busy", "direct_answer", "no_answer", "ring_group")]  # fmt: skip
WEEK = "2026-W49"


def _judged(*captures: Path) -> list[JudgedCall]:
    out: list[Output] = []
    for capture in captures:
        pipe = CallPipeline(SITE)
        for packet in read_capture(capture, CaptureStats()):
            out += pipe.push(packet)
        out += pipe.flush()
    return [o for o in out if isinstance(o, JudgedCall)]


def _records() -> dict[str, ProbeRecord]:
    rows = json.loads((PROBE / "probe_calls.records.json").read_text(encoding="utf-8"))
    return {r.pop("flow"): ProbeRecord.from_dict(r) for r in rows}


def fill(store: Store) -> None:
    """The staff calls, the probe calls (the unanswered one withheld) and the probes' checks."""
    records = _records()
    unanswered = records["no_answer"].call_id
    probes = _judged(PROBE / "probe_calls.hep.pcap")
    store.save(_judged(*STAFF))
    store.save([j for j in probes if all(leg.call_id != unanswered for leg in j.call.legs)])
    monitor = ProbeMonitor()
    for name in ("answered", "busy"):
        monitor.expect(records[name])
    checked = 0
    for j in probes:
        for check in monitor.on_call(j.call):
            record = next(r for r in records.values() if r.call_id == check.call_id)
            save_result(store, "민원", record, check, record.invite_at + 60_000_000)
            checked += 1
    assert checked == 2
    missing = records["no_answer"]
    save_result(store, "민원", missing, check_probe(missing, None), missing.invite_at + 90_000_000)


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('probe-report') / 'callwatch.sqlite'}"
    store = Store.open(url, site=SITE.name)
    store.upgrade()
    try:
        fill(store)
    finally:
        store.close()
    return url


@pytest.fixture(scope="module")
def report(db_url: str) -> WeeklyReport:
    store = Store.open(db_url, site=SITE.name)
    try:
        return weekly_report(store, SITE, WEEK)
    finally:
        store.close()


def test_the_report_counts_the_probe_calls_apart_from_staff(report: WeeklyReport) -> None:
    staff = report.departments[0].compliance
    assert staff.department == "민원" and staff.volume.offered == 4  # the staff calls only
    assert [p.department for p in report.probes] == ["민원"]
    p = report.probes[0]
    assert (p.placed, p.answered, p.within, p.allowed_rings) == (3, 1, 1, 2)
    assert p.within_rate == pytest.approx(1 / 3, abs=1e-6)
    assert p.median_rings == 2 and p.ring.count == 1
    assert p.ring.median == pytest.approx(3.003383)
    assert (p.checks.ok, p.checks.mismatch, p.checks.missing, p.checks.error) == (2, 0, 1, 0)
    assert report.to_dict()["probes"][0]["checks"] == {
        "ok": 2, "mismatch": 0, "missing": 1, "error": 0,
    }  # fmt: skip


def test_the_probe_section_in_korean_and_english(report: WeeklyReport) -> None:
    html = render_html(report)
    section = html[html.index('<section class="probes" id="probes">') :]
    assert "<h2>시험 전화 (직원 통계 제외)</h2>" in section
    assert "직원 응대 통계에는 넣지 않습니다" in section
    for figure, value in (("placed", "3"), ("answered", "1"), ("within", "1 (33.3%)"),
                          ("median_rings", "벨 2회"), ("ringback", "3초"),
                          ("check-ok", "2"), ("check-missing", "1")):  # fmt: skip
        assert f'data-figure="{figure}">{value}<' in section, figure
    assert "벨 2회 안에 응답" in section
    assert "수집 경로(HEP, 패킷 수집)" in section  # a probe was never captured
    en = render_html(report, "en")
    section = en[en.index('id="probes"') :]
    assert "Probe calls (not in the staff figures)" in section
    assert 'data-figure="median_rings">2\u00a0rings<' in section
    assert 'data-figure="ringback">3\u00a0s<' in section
    assert "Answered within 2\u00a0rings" in section and "Not captured" in section
    assert "시험 전화" not in en


def test_no_section_without_probe_calls(db_url: str) -> None:
    store = Store.open(db_url, site=SITE.name)
    try:
        before = weekly_report(store, SITE, "2026-W48")
        one = weekly_report(store, SITE, WEEK, department="민원")
    finally:
        store.close()
    assert before.probes == [] and 'id="probes"' not in render_html(before)
    assert probes_csv(before).removeprefix("\ufeff").strip() == ",".join(PROBE_FIELDS)
    assert [p.placed for p in one.probes] == [3]


def test_probes_csv(report: WeeklyReport) -> None:
    text = probes_csv(report, "en")
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert tuple(rows[0]) == PROBE_FIELDS and len(rows) == 1
    row = rows[0]
    assert (row["week"], row["department"], row["department_en"]) == (WEEK, "민원", "Civil Affairs")
    figures = ("placed", "answered", "within", "allowed_rings", "within_pct", "median_rings",
               "ringback_median_s", "check_ok", "check_missing", "check_mismatch")  # fmt: skip
    assert [row[f] for f in figures] == ["3", "1", "1", "2", "33.3", "2", "3.00", "2", "1", "0"]
    staff = list(csv.DictReader(io.StringIO(rules_csv(report).removeprefix("\ufeff"))))
    assert {r["offered"] for r in staff if r["department"] == "민원"} == {"4"}


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_the_probe_section_in_the_pdf(report: WeeklyReport, tmp_path: Path) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(render_pdf(report))
    text = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "시험 전화 (직원 통계 제외)" in text and "벨 2회 안에 응답" in text
    assert "1 (33.3%)" in text and "확인됨" in text and "수집 경로(HEP, 패킷 수집)" in text


def test_cli_writes_the_probes_csv(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLWATCH_DATABASE_URL", db_url)
    out = tmp_path / "out"
    args = ["report", "--config", str(SITE_FILE), "--week", WEEK, "--format", "csv"]
    assert cli.main([*args, "--output", f"{out}/"]) == 0
    written = sorted(p.name for p in out.iterdir())
    assert any(n.endswith("-probes.csv") for n in written), written
    assert cli.main([*args, "--week", "2026-W48", "--output", f"{tmp_path / 'w48'}/"]) == 0
    assert not any(p.name.endswith("-probes.csv") for p in (tmp_path / "w48").iterdir())


def test_the_reports_page_downloads_the_probes_csv(db_url: str) -> None:
    from types import SimpleNamespace

    from starlette.testclient import TestClient

    from callwatch.api.auth import TokenStore
    from callwatch.api.context import ApiContext
    from callwatch.http import create_app
    from callwatch.timefmt import parse_iso
    from callwatch.web import WebContext

    store = Store.open(db_url, site=SITE.name)
    try:
        token = TokenStore(store.engine).create("admin")[1]
        service = SimpleNamespace(site=SITE, sinks=[], metrics=None, readiness=dict)
        app = create_app(service, api=ApiContext(store=store, site=SITE))  # type: ignore[arg-type]
        now = parse_iso("2026-12-08T03:00:00Z")
        app.state.web = WebContext(SITE, store, TokenStore(store.engine).verify, clock=lambda: now)
        with TestClient(app, base_url="http://testserver") as client:
            r = client.post("/login", data={"token": token, "next": "/"}, follow_redirects=False)
            assert r.status_code == 303
            assert 'value="csv-probes"' in client.get("/reports").text
            r = client.get(f"/reports/download?period=week&week={WEEK}&format=csv-probes&lang=en")
            assert r.status_code == 200
            name = 'filename="callwatch-2026-W49-all-probes.csv"'
            assert name in r.headers["content-disposition"]
            rows = list(csv.DictReader(io.StringIO(r.text.removeprefix("\ufeff"))))
            assert [(x["department"], x["placed"], x["check_missing"]) for x in rows] == [
                ("민원", "3", "1")
            ]
    finally:
        store.close()
