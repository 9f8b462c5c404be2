"""The service's commands: ingest --store, export (jsonl, csv), db upgrade, and their errors."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from callwatch.cli import main

ROOT = Path(__file__).resolve().parent.parent
SITE = str(ROOT / "examples" / "site.toml")
CAPTURES = [str(ROOT / "sip_fixtures" / f"{n}.pcap") for n in ("answered_3rd_ring", "busy")]


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CALLWATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CALLWATCH_DATABASE_URL", raising=False)
    return tmp_path / "data"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_store_then_export_prints_the_same_calls(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    code, printed, _ = run(capsys, "ingest", "--store", "--config", SITE, *CAPTURES)
    assert code == 0 and (data_dir / "callwatch.sqlite").is_file()
    code, exported, _ = run(capsys, "export", "--config", SITE)
    assert code == 0
    assert exported == printed and len(exported.splitlines()) == 2
    # the same capture again: still one row per call
    run(capsys, "ingest", "--store", "--config", SITE, *CAPTURES)
    assert run(capsys, "export", "--config", SITE)[1] == printed
    calls = [json.loads(line) for line in printed.splitlines()]
    code, text, _ = run(capsys, "export", "--config", SITE, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["call"] for r in rows] == [c["call"] for c in calls]
    first = calls[0]["started_at"]
    code, later, _ = run(capsys, "export", "--config", SITE, "--since", calls[1]["started_at"])
    assert [json.loads(x)["call"] for x in later.splitlines()] == [calls[1]["call"]]
    code, none, _ = run(capsys, "export", "--config", SITE, "--until", first)
    assert code == 0 and none == ""


def test_db_upgrade_reports_the_revision(
    capsys: pytest.CaptureFixture[str], data_dir: Path
) -> None:
    code, out, _ = run(capsys, "db", "upgrade")
    assert code == 0 and out.startswith("database at revision ")
    assert (data_dir / "callwatch.sqlite").is_file()


def test_bad_inputs_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    code, _, err = run(capsys, "export", "--config", SITE, "--since", "yesterday")
    assert code == 2 and "--since 'yesterday' is not an ISO 8601 time" in err
    monkeypatch.setenv("CALLWATCH_HEP_PORT", "99999")
    code, _, err = run(capsys, "serve", "--config", SITE)
    assert code == 2 and "CALLWATCH_HEP_PORT: 99999 is not a port number" in err
    monkeypatch.setenv("CALLWATCH_DATABASE_URL", "postgresql://nobody@127.0.0.1:1/none")
    code, _, err = run(capsys, "db", "upgrade")
    assert code == 2 and "callwatch: error:" in err
