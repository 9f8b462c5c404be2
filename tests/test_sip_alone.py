"""What SIP alone must get right beside a PBX: the PBX seam, and calls cut off by a capture's end.

Real captures from sip_fixtures/ (sipp and Kamailio, see sip_fixtures/README.md) fed through
the dialog tracker and the call assembler, or through ``callwatch ingest``.
"""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest

from callwatch.calls.assembler import CallAssembler
from callwatch.calls.model import Call
from callwatch.capture import CaptureStats, read_capture
from callwatch.cli import main
from callwatch.config import load_site
from callwatch.pbx import KINDS, traits_for
from callwatch.pbx.asterisk import ASTERISK
from callwatch.pbx.proxy import PROXY
from callwatch.sip.events import Answered, Ended
from callwatch.sip.feed import LegEventFeed

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "sip_fixtures"
SITE = ROOT / "examples" / "site.toml"
CORE = ("sip", "calls", "charter", "pipeline.py")


def assemble(fixture: str, **kwargs: object) -> list[Call]:
    """The calls of a fixture, assembled with the example directory and ``kwargs``."""
    assembler = CallAssembler(load_site(SITE).directory, **kwargs)  # type: ignore[arg-type]
    feed = LegEventFeed()
    calls: list[Call] = []
    for packet in read_capture(FIXTURES / f"{fixture}.pcap", CaptureStats()):
        for event in feed.push(packet):
            calls += assembler.feed(event)
    for event in feed.flush():
        calls += assembler.feed(event)
    return calls + assembler.flush()


# -- one seam per PBX ---------------------------------------------------------------------


def test_asterisk_traits_alone_join_x_cid_and_linkedid_legs() -> None:
    """No [correlation] headers at all: the Asterisk description brings X-CID (naming the
    trunk leg's Call-ID) and X-Asterisk-Linkedid (a shared value)."""
    [xcid] = assemble("xcid_anonymous", pbx=ASTERISK)
    assert (xcid.correlation, xcid.answered_by, xcid.missed) == ("header:X-CID", "2001", False)
    [xfer] = assemble("blind_transfer_linkedid", pbx=ASTERISK)
    assert [t.seconds for t in xfer.transfers] == [pytest.approx(4.0, abs=0.3)]
    target = next(leg for leg in xfer.legs if leg.call_id.startswith("lidxfer-target"))
    assert target.role == "transfer"


def test_a_proxy_edge_knows_no_pbx_headers() -> None:
    """A Kamailio edge puts no X-CID: the header is not read, and the withheld caller's two
    legs are joined only by the dialled number and timing (the heuristic)."""
    calls = assemble("xcid_anonymous", pbx=PROXY)
    assert [c.correlation for c in calls] == ["heuristic"]


def test_with_a_pbx_only_its_call_id_headers_name_another_legs_call_id() -> None:
    """X-CID listed as a plain correlation header for a PBX without Call-ID headers: equal
    values still tie legs, a value naming a Call-ID no longer does (the withheld caller's legs
    are then joined by the heuristic)."""
    calls = assemble("xcid_anonymous", correlation_headers=["X-CID"], pbx=PROXY)
    assert [c.correlation for c in calls] == ["heuristic"]
    [joined] = assemble("xcid_anonymous", correlation_headers=["X-CID"])
    assert joined.correlation == "header:X-CID"


def test_every_pbx_kind_is_plain_data_and_the_core_does_not_import_pbx() -> None:
    assert traits_for(" Asterisk ") is ASTERISK and traits_for("kamailio") is PROXY
    for traits in KINDS.values():
        assert traits.headers == traits.linkedid_headers + tuple(
            h for h in traits.callid_headers if h not in traits.linkedid_headers
        )
    src = ROOT / "src" / "callwatch"
    for part in CORE:
        files = [src / part] if part.endswith(".py") else sorted((src / part).rglob("*.py"))
        for file in files:
            text = file.read_text(encoding="utf-8")
            assert not re.search(r"^\s*(from|import) callwatch(\.pbx| import pbx)", text, re.M)


def test_site_pbx_kind_is_checked_and_brings_its_headers(tmp_path: Path) -> None:
    text = SITE.read_text(encoding="utf-8")
    no_headers = text.split("[correlation]")[0]
    path = tmp_path / "site.toml"
    path.write_text(no_headers, encoding="utf-8")
    site = load_site(path)
    assert site.correlation_headers == ()
    assert site.pbx is not None and site.pbx.headers == ("X-Asterisk-Linkedid", "X-CID")
    path.write_text(no_headers.replace('charter = "naju"', 'charter = "naju"\npbx = "proxy"', 1))
    proxy = load_site(path).pbx
    assert proxy is not None and proxy.headers == ()
    path.write_text(no_headers.replace('charter = "naju"', 'charter = "naju"\npbx = "astrisk"', 1))
    assert main(["check-config", str(path)]) == 1


def test_unknown_pbx_kind_names_its_line_and_a_near_kind(tmp_path: Path, capsys) -> None:
    path = tmp_path / "site.toml"
    text = SITE.read_text(encoding="utf-8")
    path.write_text(text.replace('charter = "naju"', 'charter = "naju"\npbx = "Kamailo"', 1))
    assert main(["check-config", str(path)]) == 1
    out = capsys.readouterr().out
    # the pbx line is written just after the [site] charter line
    line = next(n for n, t in enumerate(text.splitlines(), 2) if t.startswith("charter = "))
    assert f"site.toml:{line}: site.pbx: unknown PBX kind 'Kamailo'" in out
    assert "did you mean 'kamailio'?" in out


# -- a call still open when the capture ends ------------------------------------------------


def _cut_pcap(source: Path, target: Path, keep: int) -> None:
    """The first ``keep`` records of a classic little-endian pcap."""
    data = source.read_bytes()
    out, pos = bytearray(data[:24]), 24
    for _ in range(keep):
        incl = struct.unpack("<I", data[pos + 8 : pos + 12])[0]
        out += data[pos : pos + 16 + incl]
        pos += 16 + incl
    target.write_bytes(bytes(out))


def test_a_call_open_at_the_end_of_the_capture_says_so(tmp_path: Path, capsys) -> None:
    """answered_1st_ring without its BYE and the BYE's 200: incomplete, "capture ended"."""
    source = FIXTURES / "answered_1st_ring.pcap"
    records = sum(1 for _ in read_capture(source, CaptureStats()))
    cut = tmp_path / "cut.pcap"
    _cut_pcap(source, cut, records - 2)
    assert main(["ingest", "--config", str(SITE), str(cut)]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (row["complete"], row["incomplete"]) == (False, True)
    assert row["incomplete_reason"] == "capture ended"
    assert row["verdicts"] == []  # a capture boundary never makes a breach
    assert main(["ingest", "--config", str(SITE), "--format", "table", str(cut)]) == 0
    assert "(incomplete: capture ended)" in capsys.readouterr().out
    assert main(["ingest", "--config", str(SITE), str(source)]) == 0
    [whole] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (whole["incomplete"], whole["incomplete_reason"]) == (False, None)


def test_a_leg_seen_without_its_invite_is_a_capture_that_began_mid_call() -> None:
    """Legs handed over without their INVITE (a restart resumed mid-call): incomplete, and
    why, even once every leg has ended."""
    assembler = CallAssembler(load_site(SITE).directory)
    base = {"leg": "x;1", "call_id": "x", "from_user": "01012345678", "to_user": "2001"}
    assembler.feed(Answered(at=1_000_000, **base))
    assembler.feed(Ended(at=5_000_000, by="caller", reason="bye", answered=True, **base))
    calls = assembler.flush()
    assert [(c.complete, c.incomplete_reason) for c in calls] == [(False, "capture_began")]
