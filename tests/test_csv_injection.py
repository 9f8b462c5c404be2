"""CSV formula injection: a caller, Call-ID or extension that starts like a spreadsheet formula
is written as text (a leading apostrophe) by ``callwatch export --format csv`` and by the
reports' CSV tables."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from callwatch.cli import main
from callwatch.reports.render_csv import extensions_csv, rules_csv
from capture_rewrite import rewrite

ROOT = Path(__file__).resolve().parents[1]
SITE = str(ROOT / "examples" / "site.toml")
CMD = b"+cmd|'/Ccalc'!A0"
SUM = b"@SUM(1+1)*cmd|'/Ccalc'!A0"
LINK = b'=HYPERLINK("http://evil.example/x","open me")'


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+1", "'=1+1"),
        ("+cmd|'/Ccalc'!A0", "'+cmd|'/Ccalc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("-3.5", "-3.5"),
        ("+821012345678", "+821012345678"),
        ("민원", "민원"),
        (None, ""),
        (True, "true"),
        (42, "42"),
    ],
)
def test_spreadsheet_cell_follows_the_owasp_rule(value: object, cell: str) -> None:
    from callwatch.store.export import spreadsheet_cell

    assert spreadsheet_cell(value) == cell


def test_export_csv_writes_formula_callers_and_call_ids_as_text(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CALLWATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CALLWATCH_DATABASE_URL", raising=False)
    missed = rewrite(
        "missed_then_callback_40min",
        {b"0613398731": CMD, b"missed-40min@callwatch.test": LINK},
        tmp_path / "missed.pcap",
    )
    busy = rewrite("busy", {b"01012345678": SUM}, tmp_path / "busy.pcap")
    assert main(["ingest", "--store", "--config", SITE, str(missed), str(busy)]) == 0
    capsys.readouterr()
    assert main(["export", "--config", SITE]) == 0
    stored = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    callers = {c["caller"] for c in stored} | {c["dialled"] for c in stored}
    assert main(["export", "--config", SITE, "--format", "csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    cells = [v for row in rows for v in row.values() if v]
    # the caller as stored (the SIP URI's parentheses are dropped by number normalisation)
    for text in (CMD.decode(), "@SUM1+1*cmd|'/Ccalc'!A0", LINK.decode()):
        assert text in callers | {c["call"] for c in stored}, text
        assert "'" + text in cells, text
        assert text not in cells, text
    assert not [c for c in cells if c.startswith(("=", "+", "@", "\t", "\r"))]
    assert any(r["call"] == "'" + LINK.decode() and r["legs"] == "'" + LINK.decode() for r in rows)


def test_report_csv_cells_are_neutralised_too(tmp_path: Path) -> None:
    import test_store_fixtures as fx
    from callwatch.reports.build import weekly_report
    from callwatch.store import Store

    store = Store.open(f"sqlite:///{tmp_path / 'r.sqlite'}", site=fx.site().name)
    store.upgrade()
    store.sync_directory(fx.site())
    store.save(fx.outputs(ROOT / "sip_fixtures" / "answered_3rd_ring.pcap"))
    report = weekly_report(store, fx.site(), "2026-W48")
    store.close()
    part = report.departments[0]
    hostile = [replace(e, extension="=cmd|'/C calc'!A0") for e in part.extensions]
    one = replace(
        report,
        departments=[replace(part, extensions=hostile)],
        total=None,
        week="@SUM(1)",
    )
    ext = list(csv.DictReader(io.StringIO(extensions_csv(one).removeprefix("\ufeff"))))
    assert ext and {r["extension"] for r in ext} == {"'=cmd|'/C calc'!A0"}
    rules = list(csv.DictReader(io.StringIO(rules_csv(one).removeprefix("\ufeff"))))
    assert rules and {r["week"] for r in rules} == {"'@SUM(1)"}
