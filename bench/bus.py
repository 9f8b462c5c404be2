"""Bus throughput and latency on loopback: Publisher → Mosquitto → subscriber.

usage: python bench/bus.py [--url mqtt://127.0.0.1:1883] [--count N] [--rate R]

1. Publish rate: N event messages (about 300 bytes of JSON, like a real leg event) submitted
   at once, at QoS 0 and QoS 1; msg/s from the first submit until the last one was handed to
   the broker (QoS 0) or acknowledged by it (QoS 1), with a subscriber checking arrival.
2. Latency: events submitted at a steady R msg/s (QoS 1); event → subscriber delivery p50 /
   p99 (the subscriber compares the embedded submit time with its receive time; both run in
   this process, so there is no clock skew).

A script that prints figures; no test asserts them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import aiomqtt

from callwatch.bus.payloads import Message
from callwatch.bus.publisher import Publisher
from callwatch.bus.topics import Topics
from callwatch.config import load_site

ROOT = Path(__file__).resolve().parent.parent


def _payload(i: int, sent: float) -> str:
    return json.dumps(
        {
            "id": f"bench-leg-{i};tag:alerting:{i}",
            "site": "bench",
            "department": "민원",
            "at": "2026-11-23T01:02:03.456789Z",
            "event": "alerting",
            "call_id": f"bench-{i}@callwatch.test",
            "from": "010-****-5678",
            "to": "2001",
            "status": 180,
            "by": "2001",
            "leg": f"bench-{i}@callwatch.test;tag",
            "sent": sent,
        },
        ensure_ascii=False,
    )


async def _subscriber(url_port: int, topic: str, got: list[tuple[float, dict]], ready) -> None:
    async with aiomqtt.Client("127.0.0.1", url_port, max_queued_incoming_messages=0) as client:
        await client.subscribe(topic, qos=1)
        ready.set()
        async for m in client.messages:
            got.append((time.perf_counter(), json.loads(m.payload)))


async def rate(url: str, port: int, qos: int, count: int) -> tuple[float, int]:
    site = dataclasses.replace(
        load_site(ROOT / "examples" / "site.toml"), name=f"bench-{uuid.uuid4().hex[:8]}"
    )
    topic = Topics(site.name).events("민원")
    got: list[tuple[float, dict]] = []
    ready = asyncio.Event()
    sub = asyncio.create_task(_subscriber(port, topic, got, ready))
    await ready.wait()
    with tempfile.TemporaryDirectory() as spool:
        async with Publisher(url, site, spool_dir=spool) as pub:
            while not pub.connected:
                await asyncio.sleep(0.01)
            messages = [
                Message("event", topic, _payload(i, 0.0), f"m{i}", qos=qos) for i in range(count)
            ]
            start = time.perf_counter()
            pub.submit_messages(messages)
            await pub.wait_idle(120)
            elapsed = time.perf_counter() - start
            deadline = time.monotonic() + 10
            while len(got) < count and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
    sub.cancel()
    return count / elapsed, len(got)


async def latency(url: str, port: int, per_second: int, seconds: float) -> list[float]:
    site = dataclasses.replace(
        load_site(ROOT / "examples" / "site.toml"), name=f"bench-{uuid.uuid4().hex[:8]}"
    )
    topic = Topics(site.name).events("민원")
    got: list[tuple[float, dict]] = []
    ready = asyncio.Event()
    sub = asyncio.create_task(_subscriber(port, topic, got, ready))
    await ready.wait()
    total = int(per_second * seconds)
    with tempfile.TemporaryDirectory() as spool:
        async with Publisher(url, site, spool_dir=spool) as pub:
            while not pub.connected:
                await asyncio.sleep(0.01)
            start = time.perf_counter()
            for i in range(total):
                due = start + i / per_second
                pause = due - time.perf_counter()
                if pause > 0:
                    await asyncio.sleep(pause)
                now = time.perf_counter()
                pub.submit_messages([Message("event", topic, _payload(i, now), f"m{i}")])
            await pub.wait_idle(30)
            deadline = time.monotonic() + 5
            while len(got) < total and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
    sub.cancel()
    return [(received - body["sent"]) * 1000 for received, body in got]


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="mqtt://127.0.0.1:1883")
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--rate", type=int, default=1_000, help="msg/s for the latency run")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args()
    port = int(args.url.rsplit(":", 1)[1]) if args.url.count(":") > 1 else 1883
    for qos in (0, 1):
        per_s, arrived = await rate(args.url, port, qos, args.count)
        print(f"publish QoS {qos}: {per_s:,.0f} msg/s ({args.count} messages, {arrived} arrived)")
    lat = await latency(args.url, port, args.rate, args.seconds)
    print(
        f"event → subscriber latency at {args.rate} msg/s QoS 1 ({len(lat)} messages): "
        f"p50 {statistics.median(lat):.2f} ms, p99 {_pct(lat, 0.99):.2f} ms, "
        f"max {max(lat):.2f} ms"
    )


if __name__ == "__main__":
    asyncio.run(main())
