"""The same recorded calls judged under all five charters give what the charters' texts imply.

Real sipp captures from sip_fixtures/, the example site with its default charter switched.
A rule a charter does not make gives no verdict at all (never "passed").
"""

from __future__ import annotations

from pathlib import Path

import pytest

from test_calls_fixtures import FIXTURES, ROOT, judged_calls

CHARTERS = ("naju", "wanju", "dangjin", "yangju", "mokpo")


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict[str, Path]:
    text = (ROOT / "examples" / "site.toml").read_text(encoding="utf-8")
    assert 'charter = "naju"' in text
    out = {}
    for charter in CHARTERS:
        path = tmp_path_factory.mktemp(charter) / "site.toml"
        path.write_text(text.replace('charter = "naju"', f'charter = "{charter}"', 1), "utf-8")
        out[charter] = path
    return out


def verdict(fixture: str, site: Path, rule: str, call_index: int = 0) -> bool | None:
    """ok of ``rule`` on the fixture's call (None when the charter gives no such verdict)."""
    row = judged_calls(FIXTURES / f"{fixture}.pcap", site)[call_index]
    found = [v["ok"] for v in row["verdicts"] if v["rule"] == rule]
    assert len(found) <= 1
    return found[0] if found else None


# fixture, rule, {charter: expected ok (None = no verdict)}
MATRIX = [
    # a 13 s transfer: Naju "10초 이내", Wanju "10초 이내로", Mokpo "10초 이상 기다리지 않도록";
    # Dangjin and Yangju give no time
    (
        "transfer_slow",
        "transfer",
        dict(naju=False, wanju=False, mokpo=False, dangjin=None, yangju=None),
    ),
    (
        "blind_transfer",
        "transfer",
        dict(naju=True, wanju=True, mokpo=True, dangjin=None, yangju=None),
    ),
    # a call back 40 min after the missed call: Naju 1 h and Mokpo 3 h kept, Wanju 30 min late;
    # Dangjin promises "the promised time" (none recorded here), Yangju no time
    (
        "missed_then_callback_40min",
        "callback",
        dict(naju=True, wanju=False, mokpo=True, dangjin=None, yangju=None),
    ),
    (
        "missed_then_callback_2h",
        "callback",
        dict(naju=False, wanju=False, mokpo=True, dangjin=None, yangju=None),
    ),
    # every charter promises an answer before the 3rd ring and that the caller hangs up first
    ("answered_3rd_ring", "answer", dict.fromkeys(CHARTERS, False)),
    ("answered_1st_ring", "answer", dict.fromkeys(CHARTERS, True)),
    ("agent_hangs_up_first", "hangup", dict.fromkeys(CHARTERS, False)),
    ("answered_1st_ring", "hangup", dict.fromkeys(CHARTERS, True)),
]


@pytest.mark.parametrize(("fixture", "rule", "expected"), MATRIX, ids=lambda x: str(x)[:30])
def test_matrix(sites, fixture, rule, expected):
    got = {charter: verdict(fixture, sites[charter], rule) for charter in CHARTERS}
    assert got == expected
