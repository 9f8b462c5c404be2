"""Customer calls and verdicts of every sip_fixtures/ capture against its expected-calls file.

Each NAME.expected-calls.json was written from the scenario's timings (sip_fixtures/README.md)
and the charter's promise, not from our output. Numbers match within the file's tolerance.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from callwatch.capture import CaptureStats, read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline, JudgedCall
from callwatch.records import call_builtins as call_to_dict

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "sip_fixtures"
EXPECTED = sorted(FIXTURES.glob("*.expected-calls.json"))


def judged_calls(pcap: Path, site_file: Path) -> list[dict]:
    """What `callwatch ingest --config SITE PCAP` prints, as dicts."""
    pipe = CallPipeline(load_site(site_file))
    judged: list[JudgedCall] = []
    for packet in read_capture(pcap, CaptureStats()):
        judged += [o for o in pipe.push(packet) if isinstance(o, JudgedCall)]
    judged += [o for o in pipe.flush() if isinstance(o, JudgedCall)]
    judged.sort(key=lambda j: (j.call.started_at, j.call.id))
    rows = []
    for j in judged:
        verdicts, cb = pipe.as_now(j)
        rows.append(call_to_dict(j.call, j.profile, verdicts, cb))
    return rows


def test_every_fixture_has_an_expected_calls_file():
    pcaps = {p.stem for p in FIXTURES.glob("*.pcap")}
    assert pcaps == {p.name.split(".")[0] for p in EXPECTED}


@pytest.mark.parametrize("expected_file", EXPECTED, ids=lambda p: p.name.split(".")[0])
def test_fixture_calls_match_the_scenario(expected_file: Path):
    spec = json.loads(expected_file.read_text())
    tol = spec["tolerance_s"]
    rows = judged_calls(FIXTURES / f"{spec['fixture']}.pcap", ROOT / spec["site"])
    assert [r["call"] for r in rows] == [c["call"] for c in spec["calls"]]
    for got, want in zip(rows, spec["calls"], strict=True):
        where = want["call"]
        assert got["complete"], where
        for key in ("direction", "caller", "dialled", "department", "charter", "answered_by"):
            assert got[key] == want[key], (where, key)
        for key in ("rings", "hangup_by", "missed"):
            assert got[key] == want[key], (where, key)
        for key in ("correlation", "ring_from", "pbx_answered"):
            if key in want:
                assert got[key] == want[key], (where, key)
        if want["ring_seconds"] is None:
            assert got["ring_seconds"] is None, where
        else:
            assert got["ring_seconds"] == pytest.approx(want["ring_seconds"], abs=tol), where
        assert len(got["transfers"]) == len(want["transfers"]), where
        for gt, wt in zip(got["transfers"], want["transfers"], strict=True):
            assert (gt["kind"], gt["from"], gt["to"]) == (wt["kind"], wt["from"], wt["to"])
            assert gt["seconds"] == pytest.approx(wt["seconds"], abs=tol), where
        _check_callback(got, want, tol)
        got_verdicts = [(v["rule"], v["ok"]) for v in got["verdicts"]]
        assert got_verdicts == [(v["rule"], v["ok"]) for v in want["verdicts"]], where
        for gv, wv in zip(got["verdicts"], want["verdicts"], strict=True):
            if "measured" in wv:
                assert gv["measured"] == pytest.approx(wv["measured"], abs=tol), (where, gv)


def _check_callback(got: dict, want: dict, tol: float) -> None:
    if want["callback"] is None:
        assert got["callback"] is None, want["call"]
        return
    cb, wcb = got["callback"], want["callback"]
    assert cb["status"] == wcb["status"], want["call"]
    if "delay_seconds" in wcb:
        assert cb["delay_seconds"] == pytest.approx(wcb["delay_seconds"], abs=tol)
        assert cb["by"] == wcb["by"]
    if "due_after_end_s" in wcb:
        from callwatch.timefmt import parse_iso

        due = parse_iso(cb["due_at"]) - parse_iso(got["ended_at"])
        assert due / 1e6 == pytest.approx(wcb["due_after_end_s"], abs=tol)
