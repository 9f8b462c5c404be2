"""Rendered reports (HTML, PDF, CSV, the public summary) and ``callwatch report``, from the
fixtures stored in a SQLite file (the figures themselves are checked on both databases in
test_reports_data.py)."""

from __future__ import annotations

import csv
import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import test_store_fixtures as fx
from callwatch import cli
from callwatch.reports.build import achievement_summary, weekly_report
from callwatch.reports.data import WeeklyReport
from callwatch.reports.render_csv import (
    EXTENSION_FIELDS,
    RULE_FIELDS,
    achievement_csv,
    extensions_csv,
    rules_csv,
)
from callwatch.reports.render_html import render_achievement_html, render_html
from callwatch.reports.render_pdf import render_pdf
from callwatch.store import Store

PHONE_LIKE = re.compile(r"(?<!\d)0\d{1,2}[-\s.]?\d{3,4}[-\s.]?\d{4}(?!\d)|\d{7,}")


@pytest.fixture(scope="module")
def db_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('reports') / 'callwatch.sqlite'}"
    st = Store.open(url, site=fx.site().name)
    st.upgrade()
    st.sync_directory(fx.site())
    for path in fx.pcaps():
        st.save(fx.outputs(path))
    st.close()
    return url


@pytest.fixture(scope="module")
def report(db_url: str) -> WeeklyReport:
    st = Store.open(db_url, site=fx.site().name)
    try:
        return weekly_report(st, fx.site(), "2026-W48")
    finally:
        st.close()


def test_html_is_self_contained_korean(report: WeeklyReport) -> None:
    html = render_html(report)
    assert html.startswith("<!DOCTYPE html>") and '<html lang="ko">' in html
    assert "주간 전화응대 이행 보고서" in html and "응답 속도" in html
    assert "<script" not in html and "<link" not in html and 'src="http' not in html
    assert html.count("<svg") == 3 * len(report.departments)
    assert 'href="/calls/slowxfer%40callwatch.test"' in html
    assert "SIP 신호로는 보이지 않습니다" in html  # Naju's handset delay is noted
    assert "01012345678" not in html and "010-****-5678" in html


def test_english_report(report: WeeklyReport) -> None:
    html = render_html(report, "en", call_url="http://pbx.example:8080/calls/{id}")
    assert '<html lang="en">' in html
    assert "Weekly telephone service report" in html and "Answer speed" in html
    assert "Civil Affairs (민원)" in html
    assert "not visible in SIP signalling" in html
    assert "응답 속도" not in html and "주간 전화응대" not in html
    assert 'href="http://pbx.example:8080/calls/answered3%40callwatch.test"' in html


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="poppler-utils not installed")
def test_pdf_has_korean_text(report: WeeklyReport, tmp_path: Path) -> None:
    pdf = render_pdf(report)
    assert pdf.startswith(b"%PDF")
    path = tmp_path / "report.pdf"
    path.write_bytes(pdf)
    text = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, text=True
    ).stdout
    assert "민원" in text and "응답" in text and "주간 전화응대 이행 보고서" in text
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True).stdout
    assert "NanumGothic" in fonts
    subprocess.run(
        ["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "2", str(path), str(tmp_path / "p")],
        check=True,
    )
    pages = sorted(tmp_path.glob("p-*.png"))
    assert len(pages) == 2 and all(p.stat().st_size > 5_000 for p in pages)


def test_csv_opens_with_the_csv_module(report: WeeklyReport) -> None:
    text = rules_csv(report)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert tuple(rows[0]) == RULE_FIELDS
    assert len(rows) == 4 * (len(report.departments) + 1)  # + the site-wide total
    answer = next(r for r in rows if r["department"] == "민원" and r["rule"] == "answer")
    assert (answer["passed"], answer["failed"], answer["pass_rate_pct"]) == ("14", "4", "77.8")
    assert answer["rule_name"] == "응답 속도" and answer["offered"] == "20"
    ext = list(csv.DictReader(io.StringIO(extensions_csv(report, "en").removeprefix("\ufeff"))))
    assert tuple(ext[0]) == EXTENSION_FIELDS
    by_ext = {r["extension"]: r for r in ext}
    assert by_ext["2001"]["answered"] == "13" and by_ext["Unanswered"]["breaches_total"] == "4"


def test_not_in_charter_is_shown_as_such(report: WeeklyReport, tmp_path: Path) -> None:
    from dataclasses import replace

    civil = report.departments[0]
    rules = [
        replace(r, in_charter=False, passed=0, failed=0, rate=None) if r.rule == "transfer" else r
        for r in civil.compliance.rules
    ]
    changed = replace(civil, compliance=replace(civil.compliance, rules=rules))
    one = replace(report, departments=[changed], total=None)
    assert "이 헌장에 없는 기준" in render_html(one)
    assert "Not part of this charter" in render_html(one, "en")
    row = next(
        r for r in csv.DictReader(io.StringIO(rules_csv(one)[1:])) if r["rule"] == "transfer"
    )
    assert row["status"] == "이 헌장에 없는 기준" and row["pass_rate_pct"] == ""


def test_public_summary_has_no_phone_numbers(report: WeeklyReport) -> None:
    summary = achievement_summary(report)
    for lang in ("ko", "en"):
        html = render_achievement_html(summary, lang)
        body = re.sub(r"<style>.*?</style>", "", html, flags=re.DOTALL)
        assert not PHONE_LIKE.search(body), PHONE_LIKE.search(body)
        assert "2001" not in body and "****" not in body
        table = achievement_csv(summary, lang)
        assert not PHONE_LIKE.search(table)
    assert "이행기준 달성도" in render_achievement_html(summary)


def test_cli_report_writes_files(db_url: str, tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CALLWATCH_DATABASE_URL", db_url)
    out = tmp_path / "out"
    args = ["report", "--config", str(fx.SITE_FILE), "--week", "2026-W48"]
    assert cli.main([*args, "--format", "csv", "--output", f"{out}/"]) == 0
    printed = capsys.readouterr().out.split()
    assert [Path(p).name for p in printed] == [
        "callwatch-2026-W48-rules.csv",
        "callwatch-2026-W48-extensions.csv",
    ]
    target = tmp_path / "민원.html"
    assert cli.main([*args, "--department", "민원", "--lang", "en", "--output", str(target)]) == 0
    assert "Civil Affairs" in target.read_text(encoding="utf-8")
    assert cli.main([*args, "--department", "인사"]) == 2
    assert "unknown department '인사'" in capsys.readouterr().err
    assert cli.main([*args[:-1], "2026-W99"]) == 2
    monkeypatch.setenv("CALLWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'none.sqlite'}")
    assert cli.main(args) == 2
    assert "no database" in capsys.readouterr().err
