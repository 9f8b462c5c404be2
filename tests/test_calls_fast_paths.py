"""The summary's shortcuts give exactly what the plain leg readings give.

``summary._Callees`` reads each leg's callee side once per call; here it is checked against
the functions of ``calls._records`` it stands in for, on every leg of every fixture call.
"""

from __future__ import annotations

from pathlib import Path

from callwatch.calls import _records
from callwatch.calls.summary import _Callees
from callwatch.capture import read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline, JudgedCall

ROOT = Path(__file__).resolve().parents[1]


def _fixture_legs():
    site = load_site(ROOT / "examples" / "site.toml")
    legs = []
    for pcap in sorted((ROOT / "sip_fixtures").glob("*.pcap")):
        pipe = CallPipeline(site)
        out = [o for p in read_capture(pcap) for o in pipe.push(p)] + pipe.flush()
        legs += [leg for o in out if isinstance(o, JudgedCall) for leg in o.call.legs]
    return site.directory, legs


def test_callees_agree_with_the_leg_readings():
    directory, legs = _fixture_legs()
    assert len(legs) > 25
    callees = _Callees(directory)
    kinds = set()
    for leg in legs:
        for _ in range(2):  # the second answer comes from the memo
            assert callees.is_staff_leg(leg) == _records.is_staff_leg(leg, directory)
            assert callees.callee_user(leg) == _records.callee_user(leg, directory)
            assert callees.has_staff_side(leg) == _records.has_staff_side(leg, directory)
            for side in ("caller", "callee", None):
                assert callees.side_user(leg, side) == _records.side_user(leg, side, directory)
        kinds.add((callees.is_staff_leg(leg), callees.callee_user(leg) is None))
    assert (True, False) in kinds and (False, False) in kinds
