"""The store in its own process: batches written there, a killed process replaced without
losing or doubling anything, a clear error when a request fails."""

from __future__ import annotations

import os
import signal
import struct
import threading
from pathlib import Path

import pytest
from tests.test_service_core import FILES, NOW, SITE, offline, packets, send, settings

from callwatch.diskqueue import DurableQueue
from callwatch.pipeline import CallPipeline
from callwatch.service import Service, StoreSink
from callwatch.sip.message import parse_message
from callwatch.store import Store
from callwatch.store_process import RawFields, StoreProcess, StoreProcessError, raw_fields


def stored(url: str) -> tuple[list[str], dict[str, int]]:
    db = Store.open(url, site=SITE.name)
    try:
        return [row["call"] for row in db.export_calls()], db.counts()
    finally:
        db.close()


def raw(name: str) -> list[RawFields]:
    """The raw messages of a fixture as the service hands them over (parsed by its core)."""
    return [raw_fields(p, parse_message(p.payload)) for p in packets(name)]


async def test_killed_store_process_is_replaced_and_nothing_is_lost(tmp_path: Path) -> None:
    pk = packets(*FILES)
    half = len(pk) // 2
    s = settings(tmp_path)
    service = Service(SITE, s, wall_clock=lambda: NOW)
    store = StoreSink(SITE, s)
    service.sinks.append(store)
    await service.start()
    await send(service, pk[:half])
    first = store.process._proc
    assert first is not None
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    await send(service, pk[half:])
    await service.stop()
    assert store.process.restarts >= 1
    calls, counts = stored(s.store_url)
    want = sorted(j.call.id for j in offline(pk))
    assert sorted(calls) == want  # each call once
    assert counts["sip_messages"] == len({(p.ts, p.payload) for p in pk})


def test_failed_request_is_a_clear_error_and_the_process_lives_on(tmp_path: Path) -> None:
    proc = StoreProcess(SITE, settings(tmp_path))
    proc.start()
    try:
        with pytest.raises(StoreProcessError, match="AttributeError"):
            proc.call("no_such_request")
        assert proc.alive
        prepared = proc.call("prepare")
        assert prepared.schema_error == "" and prepared.recovered == 0
        proc.call("write", raw("busy"))
        assert proc.figures.written == len(packets("busy"))
    finally:
        proc.close()
    assert not proc.alive


def test_a_background_store_process_runs_at_idle_priority(tmp_path: Path) -> None:
    proc = StoreProcess(SITE, settings(tmp_path), background=True)
    proc.start()
    try:
        assert proc.pid is not None
        assert os.sched_getscheduler(proc.pid) == os.SCHED_IDLE
        proc.call("prepare")
        proc.call("write", raw("busy"))  # and it still does its work
        assert proc.figures.written == len(packets("busy"))
    finally:
        proc.close()
    assert proc.pid is None


async def test_a_backlog_past_its_memory_limit_goes_through_files_in_order(
    tmp_path: Path,
) -> None:
    pk = packets(*FILES)
    s = settings(tmp_path)
    service = Service(SITE, s, wall_clock=lambda: NOW)
    store = StoreSink(SITE, s)
    store.backlog.memory_limit = 0  # every batch waits in a file
    service.sinks.append(store)
    await service.start()
    await send(service, pk)
    await service.stop()
    calls, counts = stored(s.store_url)
    assert sorted(calls) == sorted(j.call.id for j in offline(pk))
    assert counts["sip_messages"] == len({(p.ts, p.payload) for p in pk})
    assert store.pending() == 0 and not list(store.backlog_dir.glob("*.queue"))


async def test_a_backlog_left_by_a_killed_service_is_stored_on_the_next_start(
    tmp_path: Path,
) -> None:
    pk = packets(*FILES)
    s = settings(tmp_path)
    killed = StoreSink(SITE, s)
    killed.backlog.memory_limit = 0
    killed.max_batch = 7
    pipe = CallPipeline(SITE)
    pipe.legs.on_message = killed.submit_message
    for p in pk:  # what the service queued before it was killed, never delivered
        killed.submit(pipe.push(p))
    killed.submit(pipe.flush())
    killed._seal()  # the last, partial batch too
    assert killed.backlog.on_disk == killed.backlog.batches > 1
    killed.store.close()
    assert killed.backlog.queue is not None
    killed.backlog.queue.close()
    foreign = struct.pack("<I16s", 1, b"0.0.1") + b"junk"  # queued by another version
    DurableQueue(killed.backlog_dir).append([foreign])
    again = StoreSink(SITE, s)
    assert again.backlog.stale == 1  # another version's header: set aside, not retried
    await again.start()
    await again.close()
    calls, counts = stored(s.store_url)
    assert sorted(calls) == sorted(j.call.id for j in offline(pk))
    assert counts["sip_messages"] == len({(p.ts, p.payload) for p in pk})
    assert not list(again.backlog_dir.glob("*.queue"))
    assert [p.read_bytes() for p in (again.backlog_dir / "stale").iterdir()] == [foreign]


async def test_a_request_the_store_process_cannot_read_is_set_aside_not_retried(
    tmp_path: Path,
) -> None:
    s = settings(tmp_path)
    store = StoreSink(SITE, s)
    await store.start()
    store.backlog.push(1, b"not a pickle")
    store.submit(raw("busy"))
    await store.close()
    assert store.unreadable == 1
    aside = list((store.backlog_dir / "unreadable").iterdir())
    assert [p.read_bytes() for p in aside] == [b"not a pickle"]
    assert store.written == len(packets("busy")) and store.pending() == 0


def test_a_second_store_process_waits_for_the_first_to_leave_the_spool(tmp_path: Path) -> None:
    """A store process left behind by a service killed with -9 still finishes with the spool;
    the next one must not write it at the same time."""
    s = settings(tmp_path)
    first = StoreProcess(SITE, s)
    first.start()
    second = StoreProcess(SITE, s)
    started = threading.Event()

    def start() -> None:
        second.start()
        started.set()

    waiter = threading.Thread(target=start)
    waiter.start()
    try:
        assert not started.wait(3)  # the spool is the first one's
        first.close()
        assert started.wait(30)
    finally:
        waiter.join(60)
        first.close()
        second.close()
