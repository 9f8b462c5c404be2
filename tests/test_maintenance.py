"""The service's housekeeping: raw SIP retention and weekly reports on their schedule."""

from __future__ import annotations

from pathlib import Path

from callwatch.maintenance import Maintenance
from callwatch.reports.schedule import parse_schedule
from callwatch.sip.message import parse_message
from callwatch.store import RawMessage, Store
from callwatch.timefmt import parse_iso
from test_store_fixtures import FIXTURES, outputs, packets, site

DAY = 86_400 * 1_000_000


def filled_store(tmp_path: Path) -> tuple[Store, int]:
    store = Store.open(f"sqlite:///{tmp_path / 'cw.sqlite'}", site="naju-cityhall")
    store.upgrade()
    pcap = FIXTURES / "answered_1st_ring.pcap"
    store.save(outputs(pcap))
    msgs = [RawMessage.from_packet(p, parse_message(p.payload)) for p in packets(pcap)]
    store.save_messages(msgs)
    return store, max(m.at for m in msgs)


def test_raw_sip_is_purged_after_the_retention(tmp_path):
    store, last = filled_store(tmp_path)
    job = Maintenance(store, site(), retention_days=90, state_file=tmp_path / "state")
    job.run_once(last + 89 * DAY)
    assert job.stats.purged_messages == 0
    job.run_once(last + 91 * DAY)
    assert job.stats.purged_messages == len(packets(FIXTURES / "answered_1st_ring.pcap"))
    assert store.export_calls() is not None and len(list(store.export_calls())) == 1  # calls stay


def test_zero_retention_keeps_everything(tmp_path):
    store, last = filled_store(tmp_path)
    job = Maintenance(store, site(), retention_days=0, state_file=tmp_path / "state")
    job.run_once(last + 10_000 * DAY)
    assert job.stats.purged_messages == 0


def test_weekly_reports_are_written_once_when_due_and_survive_a_restart(tmp_path):
    store, _ = filled_store(tmp_path)
    schedule = parse_schedule(
        {"weekday": "mon", "hour": 7, "folder": "out", "formats": ["csv"]}, tmp_path
    )
    state = tmp_path / "reports-last-run"
    job = Maintenance(store, site(), retention_days=0, state_file=state, schedule=schedule)
    # the fixture was recorded on Monday 2026-11-23 (W48); its report falls due on Monday
    # 2026-11-30 07:00 KST = 2026-11-29T22:00Z
    job.run_once(parse_iso("2026-11-29T21:59:00Z"))
    assert "2026-W48" not in job.stats.weeks
    job.run_once(parse_iso("2026-11-29T22:01:00Z"))
    assert job.stats.weeks[-1] == "2026-W48"
    written = sorted(p.name for p in (tmp_path / "out" / "2026-W48").iterdir())
    assert "callwatch-2026-W48-rules.csv" in written
    assert "achievement-2026-W48.csv" in written  # the public summary comes with it
    # a restart: a new job with the same state file does not write the week again
    again = Maintenance(store, site(), retention_days=0, state_file=state, schedule=schedule)
    again.run_once(parse_iso("2026-11-30T03:00:00Z"))
    assert again.stats.weeks == []
