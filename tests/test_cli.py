"""The command line's contract: one clear error line, exit status, and check-config."""

from __future__ import annotations

import json
from pathlib import Path

from callwatch.cli import main

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "examples" / "site.toml"


def test_a_file_that_is_not_a_capture_gets_one_error_line(tmp_path, capsys):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("INVITE is not a pcap\n")
    assert main(["ingest", "--events", str(bogus)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a pcap or pcapng capture" in err[0]


def test_missing_file_and_missing_config(tmp_path, capsys):
    assert main(["ingest", "--events", str(tmp_path / "nope.pcap")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["ingest", str(ROOT / "sip_fixtures" / "busy.pcap")]) == 2
    assert "--config" in capsys.readouterr().err


def test_events_are_json_lines(capsys):
    assert main(["ingest", "--events", str(ROOT / "sip_fixtures" / "busy.pcap")]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [e["event"] for e in lines] == ["offered", "ended"]
    assert lines[1]["reason"] == "486" and lines[1]["by"] == "callee"


def test_multiple_files_are_merged_in_capture_time_order(capsys):
    files = sorted(str(p) for p in (ROOT / "sip_fixtures").glob("answered_*.pcap"))
    assert main(["ingest", "--config", str(SITE), *reversed(files)]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [r["started_at"] for r in rows] == sorted(r["started_at"] for r in rows)
    assert len(rows) == 2


def test_check_config_ok_and_every_mistake_including_the_service_table(tmp_path, capsys):
    assert main(["check-config", str(SITE)]) == 0
    assert capsys.readouterr().out.strip().endswith("ok")
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[site]\nname = "x"\ncharter = "nonesuch"\ntimezone = "Mars/Olympus"\n'
        '[[departments]]\nname = "민원"\nextensions = ["2009-2001"]\n'
        '[service]\nhttp_port = "eighty"\n',
        encoding="utf-8",
    )
    assert main(["check-config", str(bad)]) == 1
    out = capsys.readouterr().out
    for needle in ("nonesuch", "Mars/Olympus", "2009-2001", "http_port"):
        assert needle in out, out


def test_table_format_shows_local_time(capsys):
    pcap = str(ROOT / "sip_fixtures" / "answered_3rd_ring.pcap")
    assert main(["ingest", "--config", str(SITE), "--format", "table", pcap]) == 0
    out = capsys.readouterr().out
    assert "Asia/Seoul" in out and "answer FAIL 7.0s" in out
