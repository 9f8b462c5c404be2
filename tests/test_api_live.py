"""The live feed: the broadcaster's bounded queues, the service publishing through its sink,
and ``/api/live`` as real Server-Sent Events over a loopback socket (uvicorn in this loop)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import uvicorn

import test_api_fixtures as fa
import test_store_fixtures as fx
from callwatch.api import Broadcaster, LiveItem, LiveSink
from callwatch.api.context import context_of
from callwatch.http import create_app
from callwatch.pipeline import JudgedCall
from callwatch.service import Service, build_sinks
from callwatch.settings import Settings

api = fa.api
filled_store = fa.filled_store
_filled_file = fa._filled_file

ANSWERED_3RD = fx.FIXTURES / "answered_3rd_ring.pcap"


def item(n: int, department: str | None = "민원", kind: str = "breach") -> LiveItem:
    return LiveItem(kind, f"id-{n}", department, {"id": f"id-{n}", "n": n})  # type: ignore[arg-type]


# -- the broadcaster ------------------------------------------------------------------------


async def test_a_full_queue_drops_and_counts_never_blocks() -> None:
    live = Broadcaster(queue_size=2)
    slow = live.subscribe()
    for n in range(5):
        live.publish(item(n))
    assert slow.queue.qsize() == 2 and slow.dropped == 3 and live.dropped == 3
    assert [slow.queue.get_nowait().id for _ in range(2)] == ["id-0", "id-1"]
    live.publish(item(5))
    assert slow.queue.get_nowait().id == "id-5"


async def test_subscribers_get_only_their_departments_and_kinds() -> None:
    live = Broadcaster()
    tax = live.subscribe(["세무"])
    breaches = live.subscribe(None, ["breach"])
    live.publish(item(1, "민원"))
    live.publish(item(2, "세무", "event"))
    assert [tax.queue.get_nowait().id] == ["id-2"] and tax.queue.empty()
    assert [breaches.queue.get_nowait().id] == ["id-1"] and breaches.queue.empty()
    with tax:
        assert live.subscribers == 2
    assert live.subscribers == 1


async def test_nothing_is_built_while_no_one_listens() -> None:
    live = Broadcaster(fx.site())
    assert live.publish_outputs(fx.outputs(ANSWERED_3RD)) == 0 and live.published == 0


async def test_the_service_publishes_every_output_through_its_live_sink(tmp_path: Path) -> None:
    packets = fx.packets(ANSWERED_3RD)
    later = packets[-1].ts + 3_600_000_000  # the ticker's wall clock, an hour after the call
    service = Service(fx.site(), Settings(data_dir=tmp_path / "data"), wall_clock=lambda: later)
    sinks, api = build_sinks(service)
    assert [s.name for s in sinks][-1] == "live"
    live = sinks[-1]
    assert isinstance(live, LiveSink)
    service.sinks.append(live)
    app = create_app(service, api=api)
    ctx = context_of(app)
    assert ctx is api and ctx.live is live.broadcaster and ctx.book is service.pipeline.book
    sub = ctx.live.subscribe()
    for packet in packets:
        service.on_packet(packet)
    service.tick()
    got = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    breaches = [g for g in got if g.kind == "breach"]
    assert [b.payload["rule"] for b in breaches] == ["answer"]
    assert breaches[0].payload["call"] == "answered3@callwatch.test"
    assert {g.kind for g in got} == {"event", "breach"}
    for sink_ in sinks:
        with contextlib.suppress(Exception):
            await sink_.close()


# -- /api/live over a socket ----------------------------------------------------------------


@pytest.fixture
async def server(api: fa.Api) -> AsyncIterator[str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    config = uvicorn.Config(api.app, log_level="warning", lifespan="off", access_log=False)
    srv = uvicorn.Server(config)
    srv.install_signal_handlers = False  # type: ignore[attr-defined]
    task = asyncio.create_task(srv.serve(sockets=[sock]))
    for _ in range(500):
        if srv.started:
            break
        await asyncio.sleep(0.01)
    host, port = sock.getsockname()
    yield f"http://{host}:{port}"
    srv.should_exit = True
    await asyncio.wait_for(task, 10)
    sock.close()


async def read_events(response: httpx.Response, want: int) -> list[tuple[str, dict]]:
    events: list[tuple[str, dict]] = []
    kind = None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind:
            events.append((kind, json.loads(line.removeprefix("data: "))))
            if len(events) >= want:
                return events
    return events


async def wait_for_subscribers(live: Broadcaster, n: int) -> None:
    for _ in range(500):
        if live.subscribers >= n:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the SSE client never subscribed")


def breach_outputs() -> list:
    return [o for o in fx.outputs(ANSWERED_3RD) if isinstance(o, JudgedCall)]


@pytest.mark.parametrize("who", ["admin", "trainer"])
async def test_sse_delivers_a_published_breach(api: fa.Api, server: str, who: str) -> None:
    headers = {"Authorization": f"Bearer {api.tokens[who]}"}
    async with (
        httpx.AsyncClient(base_url=server, timeout=10) as client,
        client.stream("GET", "/api/live?kinds=breach", headers=headers) as r,
    ):
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        await wait_for_subscribers(api.context.live, 1)
        api.context.live.publish_outputs(breach_outputs())
        [(kind, payload)] = await asyncio.wait_for(read_events(r, 1), 10)
    assert kind == "breach" and payload["rule"] == "answer"
    assert payload["call"] == "answered3@callwatch.test" and payload["department"] == "민원"
    if who == "trainer":
        assert payload["caller"] == "010-****-5678"
        assert fa.unmasked_numbers(json.dumps(payload)) == []
    else:
        assert payload["caller"] == "01012345678"


async def test_sse_for_a_lead_holds_only_their_department(api: fa.Api, server: str) -> None:
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        tax = {"Authorization": f"Bearer {api.tokens['lead_b']}"}
        civil = {"Authorization": f"Bearer {api.tokens['lead_a']}"}
        forbidden = await client.get("/api/live?department=민원", headers=tax)
        assert forbidden.status_code == 403
        async with (
            client.stream("GET", "/api/live?kinds=breach", headers=tax) as r_tax,
            client.stream("GET", "/api/live?kinds=breach", headers=civil) as r_civil,
        ):
            await wait_for_subscribers(api.context.live, 2)
            api.context.live.publish_outputs(breach_outputs())
            api.context.live.publish(item(7, "세무"))
            [(_, civil_got)] = await asyncio.wait_for(read_events(r_civil, 1), 10)
            [(_, tax_got)] = await asyncio.wait_for(read_events(r_tax, 1), 10)
    assert civil_got["call"] == "answered3@callwatch.test"
    assert tax_got == {"id": "id-7", "n": 7}  # the 민원 breach never reached the 세무 lead


async def test_sse_tells_a_slow_reader_what_it_lost(api: fa.Api, server: str) -> None:
    api.context.live.queue_size = 2
    headers = {"Authorization": f"Bearer {api.tokens['admin']}"}
    async with (
        httpx.AsyncClient(base_url=server, timeout=10) as client,
        client.stream("GET", "/api/live", headers=headers) as r,
    ):
        await wait_for_subscribers(api.context.live, 1)
        for n in range(10):  # one loop step: the stream cannot read in between
            api.context.live.publish(item(n))
        got = await asyncio.wait_for(read_events(r, 3), 10)
    assert got[0] == ("breach", {"id": "id-0", "n": 0})
    assert got[1] == ("breach", {"id": "id-1", "n": 1})
    assert got[2] == ("dropped", {"dropped": 8})
    assert api.context.live.dropped == 8


# -- catch-up, and the wallboard's items ----------------------------------------------------


async def test_a_resumed_subscription_gets_what_it_missed_once() -> None:
    live = Broadcaster(replay_size=4)
    first = live.subscribe()
    live.publish(item(1))
    last = live.event_id(first.queue.get_nowait())
    first.close()
    for n in (2, 3):
        live.publish(item(n))
    again = live.subscribe(after=last)
    assert [i.id for i in again.backlog] == ["id-2", "id-3"] and not again.gap
    live.publish(item(4))
    assert again.queue.get_nowait().id == "id-4" and again.queue.empty()
    # the same reader one item later: nothing twice
    assert [i.id for i in live.subscribe(after=live.event_id(again.backlog[0])).backlog] == [
        "id-3",
        "id-4",
    ]


async def test_a_resume_that_cannot_be_caught_up_says_so() -> None:
    live = Broadcaster(replay_size=2)
    start = live.last_event_id
    for n in range(5):
        live.publish(item(n))
    assert live.subscribe(after=start).gap  # older than the buffer
    assert live.subscribe(after="0000-3").gap  # another epoch: the service restarted
    assert live.subscribe(after="nonsense").gap
    assert not live.subscribe(after=live.last_event_id).gap


async def test_items_not_built_while_no_one_listened_leave_a_gap() -> None:
    now = [0.0]
    live = Broadcaster(fx.site(), clock=lambda: now[0])
    with live.subscribe():
        live.publish_outputs(fx.outputs(ANSWERED_3RD))
    seen = live.last_event_id
    now[0] = 10_000.0  # long after the last listener left: nothing is built
    assert live.publish_outputs(fx.outputs(ANSWERED_3RD)) == 0
    live.touch()  # a page is served
    live.publish_outputs(fx.outputs(ANSWERED_3RD))
    assert live.subscribe(after=seen).gap


async def test_ringing_calls_come_and_go_with_the_leg_events() -> None:
    live = Broadcaster(fx.site())
    sub = live.subscribe(None, ["ringing", "call"])
    outputs = fx.outputs(ANSWERED_3RD)
    got = []
    for output in outputs:
        live.publish_outputs([output])
        while not sub.queue.empty():
            got.append(sub.queue.get_nowait())
    ringing = [g.payload["calls"] for g in got if g.kind == "ringing"]
    assert ringing[0] == [
        {
            "caller": "01012345678",
            "extension": "2001",
            "since_us": ringing[0][0]["since_us"],
            "since": ringing[0][0]["since"],
        }
    ]
    assert ringing[-1] == [] and all(g.department == "민원" for g in got)
    [call] = [g.payload for g in got if g.kind == "call"]
    assert call["direction"] == "inbound" and call["answered_in_rings"] is False
    assert call["breaches"] == 1 and call["tag"] is None


async def test_a_missed_call_opens_a_callback_item() -> None:
    live = Broadcaster(fx.site())
    sub = live.subscribe(None, ["callback"])
    live.publish_outputs(fx.outputs(fx.FIXTURES / "caller_cancels.pcap"))
    [cb] = [sub.queue.get_nowait().payload for _ in range(sub.queue.qsize())]
    assert cb["status"] == "open" and cb["caller"] == "01012345678"
    assert cb["due_us"] - cb["opened_us"] == 3600 * 1_000_000


async def read_raw(response: httpx.Response, want: int) -> list[tuple[str, str | None, dict]]:
    """(kind, id, payload) of the next ``want`` messages."""
    events: list[tuple[str, str | None, dict]] = []
    kind, ident = None, None
    async for line in response.aiter_lines():
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("id: "):
            ident = line.removeprefix("id: ")
        elif line.startswith("data: ") and kind:
            events.append((kind, ident, json.loads(line.removeprefix("data: "))))
            kind, ident = None, None
            if len(events) >= want:
                return events
    return events


async def test_sse_resumes_from_last_event_id(api: fa.Api, server: str) -> None:
    headers = {"Authorization": f"Bearer {api.tokens['admin']}"}
    live = api.context.live
    async with httpx.AsyncClient(base_url=server, timeout=10) as client:
        async with client.stream("GET", "/api/live", headers=headers) as r:
            await wait_for_subscribers(live, 1)
            live.publish(item(1))
            [(_, last, _)] = await asyncio.wait_for(read_raw(r, 1), 10)
        for _ in range(500):  # the server notices the reader left
            if live.subscribers == 0:
                break
            await asyncio.sleep(0.01)
        live.publish(item(2))
        live.publish(item(3))
        resumed = headers | {"Last-Event-ID": str(last)}
        async with client.stream("GET", "/api/live", headers=resumed) as r:
            await wait_for_subscribers(live, 1)
            live.publish(item(4))
            got = await asyncio.wait_for(read_raw(r, 3), 10)
        async with client.stream(
            "GET", "/api/live", headers=headers | {"Last-Event-ID": "x-1"}
        ) as r:
            [(kind, _, _)] = await asyncio.wait_for(read_raw(r, 1), 10)
    assert [p["n"] for _, _, p in got] == [2, 3, 4]
    assert len({i for _, i, _ in got} | {last}) == 4
    assert kind == "reset"
