"""The committed SIP fixtures: every fixture has a valid capture and a well-formed expected file.

These tests read the files only (stdlib pcap walk, tshark when installed); they never run sipp.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

FIXTURE_DIR = Path(__file__).resolve().parent.parent / "sip_fixtures"
EVENTS = {
    "offered",
    "alerting",
    "answered",
    "held",
    "resumed",
    "referred",
    "transfer_progress",
    "ended",
}
ONCE = {"offered", "alerting", "answered", "ended"}
NEEDS_BY = {"ended", "held", "resumed", "referred"}
MAX_PCAP_BYTES = 40_000
PCAP_MAGICS = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}


def _load_regenerate() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "sip_fixtures_regenerate", FIXTURE_DIR / "regenerate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


REGENERATE = _load_regenerate()
NAMES = sorted(REGENERATE.FIXTURES)


def _walk_pcap(path: Path) -> list[tuple[float, bytes]]:
    """(time, frame) per record of a classic pcap; raises AssertionError when malformed."""
    data = path.read_bytes()
    assert len(data) >= 24, "shorter than a pcap global header"
    assert data[:4] in PCAP_MAGICS, f"not a classic pcap (magic {data[:4].hex()})"
    order, scale = PCAP_MAGICS[data[:4]]
    _snaplen, linktype = struct.unpack(order + "II", data[16:24])
    assert linktype in (1, 113, 276), f"unexpected link type {linktype}"
    records: list[tuple[float, bytes]] = []
    pos = 24
    while pos < len(data):
        assert pos + 16 <= len(data), "truncated record header"
        sec, frac, incl, orig = struct.unpack(order + "IIII", data[pos : pos + 16])
        assert incl <= orig, "captured length exceeds original length"
        assert pos + 16 + incl <= len(data), "truncated record"
        records.append((sec + frac * scale, data[pos + 16 : pos + 16 + incl]))
        pos += 16 + incl
    return records


def _expected(name: str) -> dict:
    return json.loads((FIXTURE_DIR / f"{name}.expected.json").read_text(encoding="utf-8"))


def test_fixture_list_matches_files() -> None:
    on_disk = {p.name.removesuffix(".pcap") for p in FIXTURE_DIR.glob("*.pcap")}
    expected = {p.name.removesuffix(".expected.json") for p in FIXTURE_DIR.glob("*.expected.json")}
    assert on_disk == set(NAMES)
    assert expected == set(NAMES)


def test_fixture_ports_are_distinct() -> None:
    seen: dict[int, str] = {}
    for name, fixture in REGENERATE.FIXTURES.items():
        for port in set(fixture.ports()):
            assert port not in seen, f"port {port} used by {seen.get(port)} and {name}"
            seen[port] = name


def test_scenarios_named_by_fixtures_exist() -> None:
    for fixture in REGENERATE.FIXTURES.values():
        for capture in fixture.captures:
            for agent in capture.agents:
                assert (FIXTURE_DIR / "scenarios" / agent.scenario).is_file(), agent.scenario


@pytest.mark.parametrize("name", NAMES)
def test_pcap_is_a_small_valid_capture(name: str) -> None:
    path = FIXTURE_DIR / f"{name}.pcap"
    assert path.stat().st_size <= MAX_PCAP_BYTES
    records = _walk_pcap(path)
    assert records, "capture holds no packets"
    times = [t for t, _ in records]
    assert times == sorted(times), "records out of time order"


@pytest.mark.parametrize("name", NAMES)
def test_pcap_spans_the_expected_timeline(name: str) -> None:
    records = _walk_pcap(FIXTURE_DIR / f"{name}.pcap")
    doc = _expected(name)
    span = records[-1][0] - records[0][0]
    last = max(e["offset_s"] for leg in doc["legs"] for e in leg["events"])
    assert span >= last - doc["tolerance_s"]
    blob = b"".join(frame for _, frame in records)
    for leg in doc["legs"]:
        assert leg["call_id"].encode() in blob, f"Call-ID {leg['call_id']} not in the capture"


@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
@pytest.mark.parametrize("name", NAMES)
def test_tshark_reads_every_packet(name: str) -> None:
    path = FIXTURE_DIR / f"{name}.pcap"
    out = subprocess.run(
        ["tshark", "-n", "-r", str(path), "-T", "fields", "-e", "frame.number"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    assert len(out.stdout.split()) == len(_walk_pcap(path))


@pytest.mark.parametrize("name", NAMES)
def test_expected_file_is_well_formed(name: str) -> None:
    doc = _expected(name)
    assert doc["fixture"] == name
    assert isinstance(doc["description"], str) and doc["description"]
    assert 0 < doc["tolerance_s"] <= 1
    assert doc["legs"], "no legs"
    offsets_at_zero = 0
    seen_legs: set[tuple[str, str]] = set()
    for leg in doc["legs"]:
        assert set(leg) == {"call_id", "from", "to", "events"}
        assert (leg["call_id"], leg["from"]) not in seen_legs
        seen_legs.add((leg["call_id"], leg["from"]))
        for user in (leg["from"], leg["to"]):  # a user part: a number or a phone's name
            assert user and user.isascii() and not set(user) & set("@:;<> "), user
        events = leg["events"]
        kinds = [e["event"] for e in events]
        assert kinds[0] == "offered", "a leg starts with its offer"
        assert set(kinds) <= EVENTS
        for kind in ONCE:
            assert kinds.count(kind) <= 1, f"{kind} more than once"
        if "ended" in kinds:
            assert kinds[-1] == "ended"
        offsets = [e["offset_s"] for e in events]
        assert all(isinstance(o, int | float) and o >= 0 for o in offsets)
        assert offsets == sorted(offsets), "events out of order"
        offsets_at_zero += offsets[0] == 0
        for event in events:
            _check_event(event)
    assert offsets_at_zero >= 1, "offsets count from the fixture's first INVITE"


def _check_event(event: dict) -> None:
    kind = event["event"]
    allowed = {"event", "offset_s"}
    if kind in NEEDS_BY:
        assert event["by"] in ("caller", "callee"), event
        allowed.add("by")
    if kind == "ended":
        reason = event["reason"]
        assert reason in ("bye", "cancel") or (reason.isdigit() and int(reason) >= 300), event
        assert reason not in ("401", "407"), "challenges do not end a leg"
        allowed.add("reason")
    if kind in ("alerting", "transfer_progress"):
        assert event["status"] in (100, 180, 183, 200), event
        allowed.add("status")
    if kind == "answered" and "by" in event:
        allowed.add("by")
    assert set(event) <= allowed, f"unexpected fields in {event}"


def test_hep_fixture_holds_hep3_datagrams_to_9060() -> None:
    records = _walk_pcap(FIXTURE_DIR / "hep_kamailio.pcap")
    for _, frame in records:
        assert frame[12:14] == b"\x08\x00", "IPv4 over Ethernet expected"
        ihl = (frame[14] & 0x0F) * 4
        udp = frame[14 + ihl :]
        assert struct.unpack(">H", udp[2:4])[0] == REGENERATE.HEP_PORT
        payload = udp[8:]
        assert payload[:4] == b"HEP3"
        assert struct.unpack(">H", payload[4:6])[0] == len(payload)
