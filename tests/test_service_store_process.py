"""The store in its own process: batches written there, a killed process replaced without
losing or doubling anything, a clear error when a request fails."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from tests.test_service_core import FILES, NOW, SITE, offline, packets, send, settings

from callwatch.service import Service, StoreSink
from callwatch.store import Store
from callwatch.store_process import StoreProcess, StoreProcessError


def stored(url: str) -> tuple[list[str], dict[str, int]]:
    db = Store.open(url, site=SITE.name)
    try:
        return [row["call"] for row in db.export_calls()], db.counts()
    finally:
        db.close()


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
        proc.call("write", packets("busy"))
        assert proc.figures.written == len(packets("busy"))
    finally:
        proc.close()
    assert not proc.alive
