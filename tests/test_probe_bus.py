"""Probe calls on the bus and the live feed: their breaches are never published as staff
breaches (they go to ``callwatch/<site>/monitoring/breaches/<department>``), every event and
breach payload says its ``tag``, and the live feed gives a listener the staff's items unless
it asks for the probe calls'.

Outputs of the recorded probe calls of sip_fixtures/probe/ (real pyVoIP probe, real Asterisk
22, its HEP copies) and the staff calls of sip_fixtures/asterisk/, under the office's charter
made stricter (answer before ring 2, as in test_probe_tagging.py) so that the probe calls
breach it; the capture clock is then ticked two days on so that the missed calls' callbacks
are missed too (callback breaches). The messages also go through the real Mosquitto on
127.0.0.1:1883: a subscriber of the staff breaches hears none of the probe calls'."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from callwatch.api.live import Broadcaster, LiveSink
from callwatch.bus.payloads import Message, PayloadBuilder
from callwatch.bus.topics import Topics
from callwatch.capture import CaptureStats, read_capture
from callwatch.pipeline import CallbackNews, CallPipeline, JudgedCall, Output
from callwatch.probe.tagging import is_probe_call_id
from callwatch.service import Service, StoreSink, build_sinks
from callwatch.settings import Settings
from callwatch.site import SiteConfig
from callwatch.store import Store
from test_probe_tagging import PROBE_CAPTURE, PROBE_NUMBER, STAFF_CAPTURES, _strict_site, _tags

DAYS_2 = 2 * 86_400_000_000


def _outputs(site: SiteConfig, *captures: Path) -> list[Output]:
    out: list[Output] = []
    for capture in captures:
        pipe = CallPipeline(site)
        last = 0
        for packet in read_capture(capture, CaptureStats()):
            out += pipe.push(packet)
            last = max(last, packet.ts)
        out += pipe.flush()
        out += pipe.tick(last + DAYS_2)
    return out


@pytest.fixture(scope="module")
def world(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[SiteConfig, list[Output], list[Output]]:
    site = _strict_site(tmp_path_factory.mktemp("site"))
    return site, _outputs(site, PROBE_CAPTURE), _outputs(site, *STAFF_CAPTURES)


def _calls(outputs: list[Output]) -> set[str]:
    return {o.call.id for o in outputs if isinstance(o, JudgedCall)}


def _breaches(messages: list[Message]) -> list[tuple[str, dict]]:
    return [(m.topic, json.loads(m.payload)) for m in messages if m.kind == "breach"]


def test_probe_breaches_are_never_published_as_staff_breaches(
    world: tuple[SiteConfig, list[Output], list[Output]],
) -> None:
    site, probes, staff = world
    topics = Topics(site.name)
    probe_calls = _calls(probes)
    # the Call-ID alone marks the probe's calls (no probe number given)
    builder = PayloadBuilder(site, probe_callers=frozenset())
    sent = _breaches(list(builder.build(staff + probes)))
    of_probes = [(t, b) for t, b in sent if b["call"] in probe_calls]
    of_staff = [(t, b) for t, b in sent if b["call"] not in probe_calls]
    assert {b["rule"] for _, b in of_probes} == {"answer", "callback"}
    assert any(isinstance(o, CallbackNews) and o.verdicts for o in probes)
    assert {t for t, _ in of_probes} == {topics.probe_breaches("민원")}
    assert topics.probe_breaches("민원") == f"callwatch/{site.name}/monitoring/breaches/민원"
    assert {b["tag"] for _, b in of_probes} == {"probe"}
    assert of_staff and {t for t, _ in of_staff} == {topics.breaches("민원")}
    assert {b["tag"] for _, b in of_staff} == {None}
    staff_filter = topics.filter("breaches").removesuffix("#")
    assert not any(t.startswith(staff_filter) for t, _ in of_probes)


def test_events_say_whether_their_leg_is_the_probes(
    world: tuple[SiteConfig, list[Output], list[Output]],
) -> None:
    site, probes, staff = world
    staff_events = [json.loads(m.payload) for m in PayloadBuilder(site).build(staff)
                    if m.kind == "event"]  # fmt: skip
    assert staff_events and {e["tag"] for e in staff_events} == {None}
    # by Call-ID: the probe's own leg into the PBX; the PBX's legs to the phones are not
    by_call_id = PayloadBuilder(site, probe_callers=frozenset()).build(probes)
    by_id = [json.loads(m.payload) for m in by_call_id if m.kind == "event"]
    tagged = {e["call_id"] for e in by_id if e["tag"] == "probe"}
    assert tagged and all(c.startswith("probe-") for c in tagged)
    assert any(e["tag"] is None for e in by_id)
    # with the probe's number (CALLWATCH_PROBE_USER) every leg of the probe calls is
    by_number = PayloadBuilder(site, probe_callers=frozenset({PROBE_NUMBER})).build(probes)
    assert {json.loads(m.payload)["tag"] for m in by_number if m.kind == "event"} == {"probe"}


async def test_the_live_feed_gives_staff_items_unless_asked(
    world: tuple[SiteConfig, list[Output], list[Output]], monkeypatch: pytest.MonkeyPatch
) -> None:
    site, probes, staff = world
    monkeypatch.delenv("CALLWATCH_PROBE_USER", raising=False)
    live = Broadcaster(site)
    default = live.subscribe(None, ["breach"])
    probe = live.subscribe(None, ["breach"], ["probe"])
    both = live.subscribe(None, ["breach"], [None, "probe"])
    live.publish_outputs(staff + probes)

    def drain(sub: object) -> list[dict]:
        queue = sub.queue  # type: ignore[attr-defined]
        return [queue.get_nowait().payload for _ in range(queue.qsize())]

    got, got_probe, got_both = drain(default), drain(probe), drain(both)
    probe_calls = _calls(probes)
    assert got and not any(b["call"] in probe_calls for b in got)
    assert got_probe and all(b["call"] in probe_calls and b["tag"] == "probe" for b in got_probe)
    assert len(got_both) == len(got) + len(got_probe)


async def test_the_service_hands_the_probe_number_to_the_store_and_the_live_feed(
    world: tuple[SiteConfig, list[Output], list[Output]], tmp_path: Path
) -> None:
    # the probe's number is a setting (probe_user, CALLWATCH_PROBE_USER) the service hands to
    # the store and the live feed; without it only what carries the probe's Call-ID is tagged.
    # The stored calls here are the probe calls as the PBX's side alone shows them (their
    # caller is the probe's number, no leg has its Call-ID), so only the number tags them.
    site, probes, staff = world
    pbx_side: list[Output] = [
        JudgedCall(
            replace(o.call, legs=[g for g in o.call.legs if not is_probe_call_id(g.call_id)]),
            o.profile,
            o.verdicts,
        )
        for o in probes
        if isinstance(o, JudgedCall)
    ]
    assert all(o.call.legs and o.call.caller == PROBE_NUMBER for o in pbx_side)  # type: ignore[union-attr]
    for user, live_tags, stored_tag in (
        (PROBE_NUMBER, {"probe"}, "probe"),
        (None, {"probe", None}, None),
    ):
        data = tmp_path / str(user)
        service = Service(site, Settings(data_dir=data, probe_user=user))
        sinks, _ = build_sinks(service)
        live = next(s for s in sinks if isinstance(s, LiveSink))
        store = next(s for s in sinks if isinstance(s, StoreSink))
        sub = live.broadcaster.subscribe(None, ["event"], [None, "probe"])
        live.submit(probes + staff)
        await store.start()
        store.submit(pbx_side + staff)
        await store.close()
        events = [sub.queue.get_nowait().payload for _ in range(sub.queue.qsize())]
        assert {e["tag"] for e in events if e["leg"] in _legs(probes)} == live_tags
        assert {e["tag"] for e in events if e["leg"] in _legs(staff)} == {None}
        saved = Store.open(Settings(data_dir=data).store_url, site=site.name)
        try:
            tags = _tags(saved)
        finally:
            saved.close()
        assert {tags[c] for c in _calls(probes)} == {stored_tag}
        assert {tags[c] for c in _calls(staff)} == {None}


def _legs(outputs: list[Output]) -> set[str]:
    return {g.leg for o in outputs if isinstance(o, JudgedCall) for g in o.call.legs}


def _broker() -> bool:
    try:
        with socket.create_connection(("127.0.0.1", 1883), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not _broker(), reason="Mosquitto is not listening on 127.0.0.1:1883")
async def test_a_staff_breach_subscriber_hears_no_probe_call(
    world: tuple[SiteConfig, list[Output], list[Output]],
) -> None:
    import aiomqtt

    site, probes, staff = world
    site_name = f"probe-bus-{uuid.uuid4().hex[:8]}"
    builder = PayloadBuilder(site, probe_callers=frozenset())
    builder.topics = Topics(site_name)  # a site of its own on the shared broker
    messages = [m for m in builder.build(staff + probes) if m.kind == "breach"]
    topics = Topics(site_name)
    heard: dict[str, list[dict]] = {"staff": [], "monitoring": []}
    async with aiomqtt.Client("127.0.0.1", 1883) as sub, aiomqtt.Client("127.0.0.1", 1883) as pub:
        await sub.subscribe(topics.filter("breaches"), qos=1)
        await sub.subscribe(f"{topics.monitoring}/#", qos=1)
        for m in messages:
            await pub.publish(m.topic, m.payload, qos=1)

        async def listen() -> None:
            async for msg in sub.messages:
                body = json.loads(bytes(msg.payload).decode())  # type: ignore[arg-type]
                where = "monitoring" if str(msg.topic).startswith(topics.monitoring) else "staff"
                heard[where].append(body)
                if sum(map(len, heard.values())) == len(messages):
                    return

        await asyncio.wait_for(listen(), 10)
    probe_calls = _calls(probes)
    assert heard["staff"] and not any(b["call"] in probe_calls for b in heard["staff"])
    assert heard["monitoring"] and all(b["tag"] == "probe" for b in heard["monitoring"])


async def test_the_live_route_listens_to_the_tag_asked(
    world: tuple[SiteConfig, list[Output], list[Output]],
) -> None:
    from starlette.requests import Request

    from callwatch.api import routes
    from callwatch.api.auth import Principal
    from callwatch.api.context import ApiContext

    site, _, _ = world
    ctx = ApiContext(store=None, site=site, live=Broadcaster(site))
    admin = Principal("t", "admin")
    for tag, tags in (("staff", {None}), ("probe", {"probe"}), ("all", {None, "probe"})):
        request = Request({"type": "http", "method": "GET", "path": "/api/live", "headers": []})
        response = await routes.live(request, ctx, admin, None, ["breach"], tag)
        (sub,) = ctx.live._subscribers
        assert sub.tags == tags, tag
        sub.close()
        await response.body_iterator.aclose()  # type: ignore[attr-defined]
