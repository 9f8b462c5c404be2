"""The packet journal: records on disk, torn tails, retention; and the service rebuilding what
a crash lost by replaying it (in-process: the service is abandoned without stopping, as a
kill -9 leaves it, and a new one starts on the same journal)."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import replace
from pathlib import Path

import pytest

from callwatch.bus.published import PublishedLog
from callwatch.bus.publisher import Publisher, message_from_record
from callwatch.capture import Packet, read_capture
from callwatch.config import load_site
from callwatch.journal import FLUSH_RECORDS, PacketJournal
from callwatch.pipeline import CallPipeline, JudgedCall, Output
from callwatch.records import call_builtins as call_to_dict
from callwatch.service import Service
from callwatch.settings import Settings
from callwatch.sinks import BatchSink
from callwatch.sip.ami import AmiEvent

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "sip_fixtures"
SITE = load_site(ROOT / "examples" / "site.toml")
START = 1_800_000_000_000_000
NAMES = ["answered_3rd_ring", "caller_cancels", "blind_transfer", "busy", "ring_group_fork"]


def packets(names: list[str], gap: int = 3_000_000) -> list[Packet]:
    """The fixtures one after another, ``gap`` µs apart, the first at START."""
    out: list[Packet] = []
    at = START
    for name in names:
        pk = list(read_capture(FIXTURES / f"{name}.pcap"))
        base = pk[0].ts
        out += [replace(p, ts=p.ts - base + at, frame=0) for p in pk]
        at = out[-1].ts + gap
    return out


def test_records_come_back_as_written_and_positions_go_on(tmp_path: Path) -> None:
    pk = packets(["blind_transfer"])
    pk[0] = replace(pk[0], capture_id=7, correlation_id=b"abc")
    journal = PacketJournal(tmp_path)
    positions = [journal.append_tick(START)] + [journal.append_packet(p) for p in pk]
    assert positions == list(range(1, len(pk) + 2))
    journal.close()
    again = PacketJournal(tmp_path)
    assert again.left == len(pk) + 1
    assert list(again.replay()) == [(1, START), *zip(positions[1:], pk, strict=True)]
    assert again.append_tick(START + 1) == len(pk) + 2  # a new segment, numbering goes on
    assert again.segments == 2


def test_records_reach_the_file_at_flush_in_one_write_or_when_the_buffer_is_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pk = packets(["blind_transfer"])
    journal = PacketJournal(tmp_path)
    writes: list[int] = []
    write = os.write

    def counting(fd: int, data: bytes) -> int:
        writes.append(len(data))
        return write(fd, data)

    monkeypatch.setattr(os, "write", counting)
    for p in pk[:3]:
        journal.append_packet(p)
    (segment,) = tmp_path.glob("*.journal")
    assert segment.stat().st_size == 0 and journal.size == 0  # buffered, not yet written
    journal.flush()
    assert writes == [segment.stat().st_size] and journal.size == writes[0]
    journal.flush()  # nothing buffered: nothing written
    assert len(writes) == 1
    for n in range(FLUSH_RECORDS):
        journal.append_packet(pk[n % len(pk)])
    assert len(writes) == 2  # full: written without being asked
    journal.close()
    assert PacketJournal(tmp_path).left == 3 + FLUSH_RECORDS


def test_a_failed_write_counts_its_records_and_the_next_one_starts_a_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pk = packets(["busy"])
    journal = PacketJournal(tmp_path)
    journal.append_packet(pk[0])
    journal.flush()

    def full(fd: int, data: bytes) -> int:
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as m:
        m.setattr(os, "write", full)
        journal.append_packet(pk[1])
        journal.append_packet(pk[2])
        journal.flush()
    assert journal.errors == 2
    journal.append_packet(pk[3])
    journal.close()
    again = PacketJournal(tmp_path)
    assert [(n, p) for n, p in again.replay()] == [(1, pk[0]), (4, pk[3])]


def test_manager_events_are_journaled_and_replayed_into_the_core(tmp_path: Path) -> None:
    event = AmiEvent(
        START,
        "UserEvent",
        (("Channel", "PJSIP/2001-01"), ("Linkedid", "171.5"), ("사용자", "홍")),
        3,
    )
    conf = Settings(data_dir=tmp_path / "data")
    first = Service(SITE, conf, journal=PacketJournal(tmp_path / "journal"))
    first.on_ami(event)
    assert first.pipeline.earliest_held() == START  # in the reorder window
    first.journal.close()  # type: ignore[union-attr]  # killed: nothing else happens
    journal = PacketJournal(tmp_path / "journal")
    assert list(journal.replay()) == [(1, event)]
    again = Service(SITE, conf, journal=PacketJournal(tmp_path / "journal"))
    asyncio.run(again._replay(again.journal))  # type: ignore[arg-type]
    assert again.pipeline.earliest_held() == START
    again.pipeline.tick(START + 1_000_000)
    assert again.pipeline.assembler.ami.linkedid_of_channel("PJSIP/2001-01") == "171.5"


def test_a_torn_last_record_is_cut_off(tmp_path: Path) -> None:
    pk = packets(["busy"])
    journal = PacketJournal(tmp_path)
    for p in pk:
        journal.append_packet(p)
    journal.close()
    (segment,) = tmp_path.glob("*.journal")
    data = segment.read_bytes()
    segment.write_bytes(data[:-5])  # the kill came in the middle of the last write
    again = PacketJournal(tmp_path)
    assert again.torn == 1
    assert [p for _, p in again.replay()] == pk[:-1]


def test_a_segment_goes_once_taken_and_no_longer_held(tmp_path: Path) -> None:
    mark = [0]
    journal = PacketJournal(tmp_path, segment_ticks=1, watermark=lambda: mark[0])
    pk = packets(["answered_3rd_ring"])
    journal.append_tick(START)
    journal.append_packet(pk[0])
    mark[0] = pk[0].ts
    journal.append_tick(START + 1)  # closes the first segment at watermark pk[0].ts
    journal.append_packet(pk[1])
    assert journal.segments == 2
    assert journal.checkpoint(1, None) == 0  # its packet's outputs are not all taken yet
    assert journal.checkpoint(2, pk[0].ts) == 0  # the pipeline still holds a packet that old
    assert journal.checkpoint(2, pk[0].ts + 1) == 1
    assert journal.segments == 1  # the one being written stays
    journal.clear()
    assert journal.segments == 0 and not list(tmp_path.glob("*.journal"))
    assert PacketJournal(tmp_path).position == 4  # numbering survives an empty journal


def test_the_published_log_forgets_what_the_checkpoint_passed(tmp_path: Path) -> None:
    log = PublishedLog(tmp_path / "published")
    log.add(5, "c1:answer:0")
    log.add(9, "c2:hangup:0")
    log.close()
    with open(tmp_path / "published", "a") as f:
        f.write('[11,"c3:ans')  # a line cut short by a kill
    again = PublishedLog(tmp_path / "published")
    assert "c1:answer:0" in again and "c2:hangup:0" in again and len(again) == 2
    again.forget_through(5)
    assert "c1:answer:0" not in again and "c2:hangup:0" in again
    again.add(12, "c4:answer:0")
    again.close()
    assert len(PublishedLog(tmp_path / "published")) == 3  # the torn line did not spoil it


# -- the service: crash, restart, replay -----------------------------------------------------


class Database:
    """What a store holds across a crash: the outputs delivered to it, by call id."""

    def __init__(self) -> None:
        self.calls: dict[str, dict] = {}
        self.saves: list[str] = []
        self.away = False


class StoreLike(BatchSink):
    """A durable sink writing to a :class:`Database`; while it is away deliveries fail and
    outputs wait in memory, as the service's store sink does while its process is stuck."""

    name = "store"

    def __init__(self, db: Database) -> None:
        super().__init__()
        self.db = db

    async def deliver(self, batch: list[Output]) -> None:
        if self.db.away:
            raise ConnectionError("database away")
        for item in batch:
            if isinstance(item, JudgedCall):
                self.db.calls[item.call.id] = call_to_dict(
                    item.call, item.profile, item.verdicts, None
                )
                self.db.saves.append(item.call.id)


def expected(pk: list[Packet]) -> dict[str, dict]:
    pipe = CallPipeline(SITE)
    out = [o for p in pk for o in pipe.push(p)] + pipe.flush()
    return {
        o.call.id: call_to_dict(o.call, o.profile, o.verdicts, None)
        for o in out
        if isinstance(o, JudgedCall)
    }


async def run_with_crash(tmp_path: Path, crash_at: int, *, journal: bool) -> Database:
    """Feed the packets with a tick per second of capture time; abandon the service after
    ``crash_at`` packets with the database away, start another and feed the rest."""
    pk = packets(NAMES)
    db = Database()
    wall = [START]
    conf = Settings(hep_host="127.0.0.1", hep_port=0, data_dir=tmp_path / "data")

    def make() -> tuple[Service, StoreLike]:
        sink = StoreLike(db)
        j = PacketJournal(tmp_path / "journal") if journal else None
        return Service(SITE, conf, sinks=[sink], wall_clock=lambda: wall[0], journal=j), sink

    async def feed(service: Service, part: list[Packet]) -> None:
        for p in part:
            while wall[0] + 1_000_000 <= p.ts:
                wall[0] += 1_000_000
                service.tick()
                await asyncio.sleep(0)
            service.on_packet(p)
            service.end_of_batch()  # as a source does after each read, before the loop runs on
        await asyncio.sleep(0.05)

    first, _ = make()
    await first.start()
    await feed(first, pk[: crash_at // 2])
    db.away = True
    await feed(first, pk[crash_at // 2 : crash_at])
    # kill -9: nothing more runs in the old service; its memory is gone
    for task in asyncio.all_tasks():
        if task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    if first._hep is not None:
        first._hep.close()
    if first.journal is not None:
        first.journal.close()
    db.away = False

    second, _ = make()
    await second.start()
    await feed(second, pk[crash_at:])
    wall[0] += 600_000_000  # let everything finish on the wall clock before stopping
    second.tick()
    await second.stop()
    return db


async def test_a_crash_with_the_database_away_loses_no_call(tmp_path: Path) -> None:
    pk = packets(NAMES)
    want = expected(pk)
    for crash_at in (len(pk) // 3, len(pk) // 2, 2 * len(pk) // 3):
        db = await run_with_crash(tmp_path / str(crash_at), crash_at, journal=True)
        assert db.calls == want, crash_at


async def test_without_the_journal_the_same_crash_loses_calls(tmp_path: Path) -> None:
    pk = packets(NAMES)
    db = await run_with_crash(tmp_path, len(pk) // 2, journal=False)
    assert set(db.calls) < set(expected(pk))  # what the journal is for


def test_the_publisher_sends_a_replayed_breach_only_if_it_never_took_it(tmp_path: Path) -> None:
    """Broker away: messages go to the spool and their breaches are recorded as taken. A
    later publisher replaying the same outputs skips those breaches, not the others."""
    pk = packets(["agent_hangs_up_first", "pbx_answered"])
    pipe = CallPipeline(SITE)
    out = [o for p in pk for o in pipe.push(p)] + pipe.flush()
    first, second = (
        [o for o in out if isinstance(o, JudgedCall) and o.call.id == name]
        for name in ("agentbye@callwatch.test", "voicemail@callwatch.test")
    )
    spool = tmp_path / "mqtt"
    url = "mqtt://127.0.0.1:9"  # nothing listens: never connected
    before = Publisher(url, SITE, spool_dir=spool, published=PublishedLog(spool / "published"))
    before.submit(first, mark=10)  # taken (spooled) before the crash
    before.published.close()  # type: ignore[union-attr]
    after = Publisher(url, SITE, spool_dir=spool, published=PublishedLog(spool / "published"))
    after.replay_through = 20
    depth = after.spool_depth
    after.submit(first, mark=10)  # replayed: its breach is in the spool already
    after.submit(second, mark=15)  # replayed, never taken
    after.submit(first, mark=25)  # live again after the replay: not filtered
    ids = [m.id for r in after.spool.peek(100)[depth:] if (m := message_from_record(r))]
    assert ids == ["voicemail@callwatch.test:answer:0", "agentbye@callwatch.test:hangup:0"]
    assert after.replayed_skipped == 1


class RawKeeper(StoreLike):
    """A store-like sink that also keeps raw SIP messages, as the service's store sink does."""

    def __init__(self, db: Database) -> None:
        super().__init__(db)
        self.messages: list[int] = []

    def submit_message(self, packet: Packet, message: object) -> None:
        self.messages.append(packet.ts)


async def test_raw_messages_reach_their_sink_live_and_in_a_replay(
    tmp_path: Path,
) -> None:
    """Each message the core parses reaches the sink that keeps raw SIP, live and in a
    replay. A replay hands it every message of the records after the journal's checkpoint;
    one of an earlier record may come again (the core parses a packet when it leaves the
    reorder window, which may be after the checkpoint), which the store's upsert absorbs."""
    pk = packets(["answered_3rd_ring"])
    conf = Settings(hep_host="127.0.0.1", hep_port=0, data_dir=tmp_path / "data")
    journal = PacketJournal(tmp_path / "journal")
    for p in pk:
        journal.append_packet(p)
    journal.checkpoint(3, None)  # the outputs of the first three packets were taken
    journal.close()
    sink = RawKeeper(Database())
    wall = [pk[0].ts]
    service = Service(
        SITE,
        conf,
        sinks=[sink],
        wall_clock=lambda: wall[0],
        journal=PacketJournal(tmp_path / "journal"),
    )
    await service.start()
    wall[0] = pk[-1].ts + 10_000_000
    service.tick()  # past the reorder window and the clock skew: every packet is parsed
    assert set(sink.messages) >= {p.ts for p in pk[3:]}
    assert set(sink.messages) <= {p.ts for p in pk}
    live = replace(pk[0], ts=wall[0] + 1, payload=pk[0].payload.replace(b"answered3@", b"live@"))
    service.on_packet(live)
    service.end_of_batch()
    wall[0] += 10_000_000
    service.tick()
    assert sink.messages[-1] == live.ts
    await service.stop()
