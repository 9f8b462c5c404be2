"""The live service in-process: HEP over loopback UDP → core → sinks, the ticker, shutdown,
the store sink on SQLite and the HTTP endpoints."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import re
import socket
from dataclasses import replace
from pathlib import Path

import httpx
import pytest

from callwatch.capture import Packet, encode_hep3, read_capture
from callwatch.config import load_site
from callwatch.http import create_app
from callwatch.pipeline import CallPipeline, JudgedCall, Output
from callwatch.records import call_builtins as call_to_dict
from callwatch.service import Service, StoreSink
from callwatch.settings import Settings
from callwatch.sinks import BatchSink
from callwatch.sip.events import LegEvent

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "sip_fixtures"
SITE = load_site(ROOT / "examples" / "site.toml")
NOW = 1_800_000_000_000_000  # the fake wall clock, µs
FILES = ["answered_3rd_ring", "caller_cancels", "blind_transfer", "busy", "ring_group_fork"]


def packets(*names: str, start: int = NOW) -> list[Packet]:
    """Packets of fixtures, one after another, shifted so the first is at ``start``."""
    out: list[Packet] = []
    at = start
    for name in names:
        pk = list(read_capture(FIXTURES / f"{name}.pcap"))
        base = pk[0].ts
        out += [replace(p, ts=p.ts - base + at) for p in pk]
        at = out[-1].ts + 60_000_000
    return out


class Recorder(BatchSink):
    name = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.items: list[Output] = []

    async def deliver(self, batch: list[Output]) -> None:
        self.items.extend(batch)


class Flaky(Recorder):
    name = "flaky"

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.left = failures
        self.statuses: list[bool] = []

    async def deliver(self, batch: list[Output]) -> None:
        self.statuses.append(self.status().ready)
        if self.left:
            self.left -= 1
            raise ConnectionError("backend away")
        await super().deliver(batch)


def settings(tmp_path: Path, **kw: object) -> Settings:
    base = Settings(hep_host="127.0.0.1", hep_port=0, data_dir=tmp_path / "data")
    return replace(base, **kw)


async def send(service: Service, pk: list[Packet], auth_key: bytes | None = None) -> None:
    assert service.hep_address is not None
    want = service.sources["hep"].frames + len(pk)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for p in pk:
            s.sendto(encode_hep3(p, auth_key=auth_key), service.hep_address)
    for _ in range(500):
        if service.sources["hep"].frames >= want:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the listener did not get every datagram")


def offline(pk: list[Packet]) -> list[JudgedCall]:
    pipe = CallPipeline(SITE)
    out = [o for p in pk for o in pipe.push(p)] + pipe.flush()
    return [o for o in out if isinstance(o, JudgedCall)]


def offline_events(pk: list[Packet]) -> list[LegEvent]:
    pipe = CallPipeline(SITE)
    out = [o for p in pk for o in pipe.push(p)] + pipe.flush()
    return [o for o in out if isinstance(o, LegEvent)]


def key(j: JudgedCall) -> dict:
    return call_to_dict(j.call, j.profile, j.verdicts, None)


async def test_live_service_judges_like_the_offline_pipeline(tmp_path: Path) -> None:
    pk = packets(*FILES)
    rec = Recorder()
    service = Service(SITE, settings(tmp_path), sinks=[rec], wall_clock=lambda: NOW)
    await service.start()
    await send(service, pk)
    await service.stop()
    live = [o for o in rec.items if isinstance(o, JudgedCall)]
    want = offline(pk)
    assert len(want) >= len(FILES)
    assert sorted(map(key, live), key=str) == sorted(map(key, want), key=str)
    assert service.sources["hep"].packets == len(pk)
    events = [o for o in rec.items if isinstance(o, LegEvent)]
    assert sorted(map(repr, events)) == sorted(map(repr, offline_events(pk)))
    assert all(o.call.complete for o in live)


async def test_stop_mid_call_stores_it_incomplete_and_unjudged(tmp_path: Path) -> None:
    pk = packets("answered_3rd_ring")
    answered = next(i for i, p in enumerate(pk) if p.payload.startswith(b"SIP/2.0 200"))
    rec = Recorder()
    service = Service(SITE, settings(tmp_path), sinks=[rec], wall_clock=lambda: NOW)
    await service.start()
    await send(service, pk[: answered + 1])  # the call is up: no BYE yet
    await service.stop()
    calls = [o for o in rec.items if isinstance(o, JudgedCall)]
    assert len(calls) == 1
    assert calls[0].call.complete is False and calls[0].call.answered_at is not None
    assert calls[0].verdicts == []


async def test_ticker_finishes_calls_on_a_quiet_line(tmp_path: Path) -> None:
    pk = packets("answered_3rd_ring")
    wall = [pk[-1].ts]
    rec = Recorder()
    service = Service(SITE, settings(tmp_path), sinks=[rec], wall_clock=lambda: wall[0])
    await service.start()
    await send(service, pk)
    service.tick()
    await asyncio.sleep(0)
    assert service.pipeline.assembler.open_calls == 1  # lingering, waiting for more legs
    wall[0] += 60_000_000
    service.tick()
    for _ in range(100):
        if any(isinstance(o, JudgedCall) for o in rec.items):
            break
        await asyncio.sleep(0.01)
    assert service.pipeline.assembler.open_calls == 0
    assert [o.call.complete for o in rec.items if isinstance(o, JudgedCall)] == [True]
    await service.stop()


async def test_failed_deliveries_are_retried_in_order_without_loss(tmp_path: Path) -> None:
    pk = packets("answered_3rd_ring", "caller_cancels")
    rec, flaky = Recorder(), Flaky(failures=2)
    service = Service(SITE, settings(tmp_path), sinks=[rec, flaky], wall_clock=lambda: NOW)
    await service.start()
    await send(service, pk)
    await service.stop()
    assert flaky.items == rec.items and flaky.items
    assert flaky.failures == 2 and flaky.statuses[:3] == [True, False, False]
    assert flaky.status().ready
    text = service.metrics.render().decode()
    assert 'callwatch_sink_failures_total{sink="flaky"} 2.0' in text
    assert 'callwatch_sink_failures_total{sink="recorder"} 0.0' in text
    handed = f"{float(len(rec.items))}"
    assert f'callwatch_sink_items_total{{sink="flaky"}} {handed}' in text
    assert f'callwatch_sink_items_total{{sink="recorder"}} {handed}' in text


async def test_allow_list_and_auth_key_drop_and_count(tmp_path: Path) -> None:
    pk = packets("answered_3rd_ring")
    service = Service(SITE, settings(tmp_path, hep_auth_key=b"k1"), wall_clock=lambda: NOW)
    await service.start()
    await send(service, pk[:3], auth_key=b"wrong")
    await send(service, pk[3:], auth_key=b"k1")
    stats = service.sources["hep"]
    assert stats.errors == {"bad_auth_key": 3} and stats.packets == len(pk) - 3
    await service.stop()
    closed = Service(
        SITE,
        settings(tmp_path, hep_allow=(ipaddress.ip_network("10.0.0.0/8"),)),
        wall_clock=lambda: NOW,
    )
    await closed.start()
    await send(closed, pk[:2])
    assert closed.sources["hep"].errors == {"not_allowed": 2}
    assert closed.sources["hep"].packets == 0
    await closed.stop()


async def test_store_sink_exports_what_ingest_prints(tmp_path: Path) -> None:
    pk = packets(*FILES)
    s = settings(tmp_path)
    service = Service(SITE, s, wall_clock=lambda: NOW)
    store = StoreSink(SITE, s, service.metrics.store_latency.observe)
    service.sinks.append(store)
    await service.start()
    await send(service, pk)
    await service.stop()
    from callwatch.store import Store

    db = Store.open(s.store_url, site=SITE.name)
    try:
        exported = list(db.export_calls())
        counts = db.counts()
    finally:
        db.close()
    pipe = CallPipeline(SITE)
    judged = offline(pk)
    want = []
    for j in sorted(judged, key=lambda j: (j.call.started_at, j.call.id)):
        # as `callwatch ingest` prints it: the callback verdict joins the call's verdicts
        pipe_cb = j.callback
        verdicts = j.verdicts + (pipe.judge_callback(pipe_cb) if pipe_cb is not None else [])
        want.append(call_to_dict(j.call, j.profile, verdicts, pipe_cb))
    assert [row["call"] for row in exported] == [row["call"] for row in want]
    for got, expected in zip(exported, want, strict=True):
        assert {k: v for k, v in got.items() if k != "callback"} == {
            k: v for k, v in expected.items() if k != "callback"
        }
    assert counts["sip_messages"] == len({(p.ts, p.payload) for p in pk})
    assert store.written > 0 and store.status().ready


async def test_http_endpoints(tmp_path: Path) -> None:
    pk = packets("answered_3rd_ring")
    service = Service(SITE, settings(tmp_path), sinks=[Recorder()], wall_clock=lambda: NOW)
    app = create_app(service)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://cw") as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        not_ready = await client.get("/readyz")
        assert not_ready.status_code == 503
        assert not_ready.json()["parts"]["hep"]["ready"] is False
        await service.start()
        await send(service, pk)
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert set(ready.json()["parts"]) == {"hep", "recorder"}
        gc.collect()
        live = (await client.get("/metrics")).text
        await service.stop()
        text = (await client.get("/metrics")).text
    assert 'callwatch_kernel_drops_total{source="hep"} 0.0' in live
    assert re.search(r'callwatch_sink_queued\{sink="recorder"\} \d', live)
    assert re.search(r'callwatch_gc_pause_seconds_count\{generation="2"\} [1-9]', live)
    assert f'callwatch_packets_total{{source="hep"}} {float(len(pk))}' in text
    assert 'callwatch_events_total{event="answered"} 1.0' in text
    assert 'callwatch_calls_total{complete="true"} 1.0' in text
    assert 'callwatch_verdicts_total{ok="false",rule="answer"} 1.0' in text
    assert 'callwatch_breaches_total{rule="answer"} 1.0' in text
    assert "callwatch_dialogs_open 0.0" in text


async def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    from callwatch.service import ServiceError

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as busy:
        busy.bind(("127.0.0.1", 0))
        port = busy.getsockname()[1]
        service = Service(SITE, settings(tmp_path, hep_port=port))
        with pytest.raises(ServiceError, match=f"cannot listen for HEP on udp 127.0.0.1:{port}"):
            await service.start()
