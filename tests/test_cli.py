"""The command line's contract: one clear error line, exit status, and check-config."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from callwatch.capture import CaptureStats, read_capture
from callwatch.cli import main
from pcapng_craft import pcap_frames, pcapng_of

ROOT = Path(__file__).resolve().parents[1]
SITE = ROOT / "examples" / "site.toml"
BUSY = ROOT / "sip_fixtures" / "busy.pcap"


def test_a_file_that_is_not_a_capture_gets_one_error_line(tmp_path, capsys):
    bogus = tmp_path / "notes.txt"
    bogus.write_text("INVITE is not a pcap\n")
    assert main(["ingest", "--events", str(bogus)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not a pcap or pcapng capture" in err[0]


def test_missing_file_and_missing_config(tmp_path, capsys):
    assert main(["ingest", "--events", str(tmp_path / "nope.pcap")]) == 2
    assert "no such file or directory" in capsys.readouterr().err
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


@pytest.mark.parametrize(
    ("tsresol", "tsoffset", "first"),
    [
        (0, None, (1 << 64) - 1),  # whole seconds, the largest timestamp
        (6, 2**62, None),  # an offset of 2**62 seconds
        (6, -(2**62), None),  # a negative one
        (6, -(10**10), None),  # before 1970
    ],
)
def test_pcapng_times_out_of_range_are_counted_not_a_traceback(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    tsresol: int,
    tsoffset: int | None,
    first: int | None,
) -> None:
    def units(i: int, ts: int) -> int:
        if i == 0 and first is not None:
            return first
        return ts * 10**tsresol // 1_000_000

    bad = pcapng_of(BUSY, tmp_path / "bad.pcapng", tsresol=tsresol, tsoffset=tsoffset, units=units)
    assert main(["ingest", "--config", str(SITE), str(bad)]) == 0
    err = capsys.readouterr().err
    assert "Traceback" not in err and "OverflowError" not in err
    logged = [r.getMessage() for r in caplog.records if "bad_timestamp" in r.getMessage()]
    assert len(logged) == 1 and "bad.pcapng frame 1" in logged[0], logged
    stats = CaptureStats()
    packets = list(read_capture(bad, stats))
    frames = len(list(pcap_frames(BUSY)))
    skipped = 1 if first is not None else frames
    assert stats.errors == {"bad_timestamp": skipped}
    assert len(packets) == frames - skipped and stats.frames == frames


def test_a_directory_is_read_as_the_captures_inside_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "captures"
    folder.mkdir()
    assert main(["ingest", "--events", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "is a directory with no capture files (.pcap, .pcapng, .cap)" in err
    names = ("answered_3rd_ring.pcap", "busy.pcap")
    for name in names:
        shutil.copyfile(ROOT / "sip_fixtures" / name, folder / name)
    (folder / "notes.txt").write_text("not a capture")
    (folder / "sub").mkdir()
    shutil.copyfile(ROOT / "sip_fixtures" / "caller_cancels.pcap", folder / "sub" / "x.pcap")
    assert main(["ingest", "--config", str(SITE), str(folder)]) == 0
    rows = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    files = [str(ROOT / "sip_fixtures" / n) for n in names]
    assert main(["ingest", "--config", str(SITE), *files]) == 0
    assert rows == [json.loads(x) for x in capsys.readouterr().out.splitlines()] and len(rows) == 2
