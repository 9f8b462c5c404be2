"""The HEP UDP listener, over real UDP on 127.0.0.1."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator

import pytest

from callwatch.capture.hep import encode_hep3
from callwatch.capture.listener import start_hep_listener
from callwatch.capture.packet import Packet
from callwatch.capture.stats import CaptureStats

INVITE = b"INVITE sip:201@pbx SIP/2.0\r\nCall-ID: l1\r\nContent-Length: 0\r\n\r\n"
TS = 1_500_000_000_000_001


def packet(n: int) -> Packet:
    return Packet(TS + n, ("10.1.1.1", 5060), ("10.1.1.2", 5060), "udp", INVITE, 5)


class Harness:
    def __init__(self) -> None:
        self.got: list[Packet] = []
        self.stats = CaptureStats()
        self.port = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)

    def on_packet(self, p: Packet) -> None:
        self.got.append(p)

    def send(self, data: bytes) -> None:
        self.sock.sendto(data, ("127.0.0.1", self.port))

    async def settle(self, frames: int) -> None:
        """Wait until the listener has seen ``frames`` datagrams (bounded)."""
        for _ in range(200):
            if self.stats.frames >= frames:
                return
            await asyncio.sleep(0.01)
        raise AssertionError(f"only {self.stats.frames} of {frames} datagrams arrived")


async def _start(**options: object) -> AsyncIterator[Harness]:
    h = Harness()
    transport, _ = await start_hep_listener(
        h.on_packet,
        "127.0.0.1",
        0,
        stats=h.stats,
        **options,  # type: ignore[arg-type]
    )
    h.port = transport.get_extra_info("sockname")[1]
    try:
        yield h
    finally:
        transport.close()
        h.sock.close()


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    async for h in _start():
        yield h


async def test_packets_arrive_with_hep_time(harness: Harness) -> None:
    for n in range(3):
        harness.send(encode_hep3(packet(n), capture_id=5))
    await harness.settle(3)
    assert harness.got == [packet(0), packet(1), packet(2)]
    assert harness.stats.packets == 3 and harness.stats.errors == {}


async def test_garbage_is_counted_never_raised(harness: Harness) -> None:
    good = encode_hep3(packet(0), capture_id=5)
    for data in (b"hello", b"HEP3\x00\x05", good[:-3], b"\x02" * 40, good):
        harness.send(data)
    await harness.settle(5)
    assert harness.got == [packet(0)]
    assert harness.stats.errors == {"bad_hep": 4}


async def test_wrong_auth_key_dropped() -> None:
    async for h in _start(auth_key=b"s3cret"):
        h.send(encode_hep3(packet(0), auth_key=b"wrong"))
        h.send(encode_hep3(packet(1)))
        h.send(encode_hep3(packet(2), capture_id=5, auth_key=b"s3cret"))
        await h.settle(3)
        assert h.got == [packet(2)]
        assert h.stats.errors == {"bad_auth_key": 2}


async def test_sources_outside_allow_list_dropped() -> None:
    async for h in _start(allow=[ipaddress.ip_network("10.0.0.0/8")]):
        h.send(encode_hep3(packet(0)))
        await h.settle(1)
        assert h.got == [] and h.stats.errors == {"not_allowed": 1}
    async for h in _start(allow=[ipaddress.ip_network("127.0.0.0/8")]):
        h.send(encode_hep3(packet(0), capture_id=5))
        await h.settle(1)
        assert h.got == [packet(0)]


async def test_failing_callback_is_counted() -> None:
    h = Harness()

    def explode(p: Packet) -> None:
        raise RuntimeError("downstream broke")

    transport, _ = await start_hep_listener(explode, "127.0.0.1", 0, stats=h.stats)
    h.port = transport.get_extra_info("sockname")[1]
    try:
        h.send(encode_hep3(packet(0)))
        h.send(encode_hep3(packet(1)))
        await h.settle(2)
        assert h.stats.errors == {"on_packet_failed": 2}
    finally:
        transport.close()
        h.sock.close()


async def test_a_burst_is_read_in_batches_in_order_without_starving_the_loop() -> None:
    """Each batch ends with ``on_batch_end`` (where the service writes its journal) after its
    packets and before the loop runs anything else; a failing one is counted."""
    from callwatch.capture.listener import DRAIN_BATCH

    loop = asyncio.get_running_loop()
    h = Harness()
    ends: list[int] = []
    seen_by_other_task: list[tuple[int, list[int]]] = []

    def on_packet(p: Packet) -> None:
        if not h.got:  # work scheduled during the first batch runs right after that batch
            loop.call_soon(lambda: seen_by_other_task.append((len(h.got), list(ends))))
        h.got.append(p)

    def on_batch_end() -> None:
        ends.append(len(h.got))
        if len(ends) == 2:
            raise OSError("disk full")

    transport, _ = await start_hep_listener(
        on_packet, "127.0.0.1", 0, stats=h.stats, on_batch_end=on_batch_end
    )
    h.port = transport.get_extra_info("sockname")[1]
    burst = DRAIN_BATCH + 36  # all queued in the kernel before the loop reads any of it
    try:
        for n in range(burst):
            h.send(encode_hep3(packet(n), capture_id=5))
        await h.settle(burst)
        assert h.got == [packet(n) for n in range(burst)]
        assert seen_by_other_task == [(DRAIN_BATCH, [DRAIN_BATCH])]
        assert ends[:2] == [DRAIN_BATCH, burst]
        assert h.stats.errors == {"on_batch_end_failed": 1}
    finally:
        transport.close()
        h.sock.close()


async def test_each_datagram_is_its_own_bytes_whatever_its_neighbours_size() -> None:
    """Each datagram reaches the protocol as a ``bytes`` of its own (the compiled decoder
    refuses anything else; a view of a reused receive buffer would change under a packet that
    kept it), a short one after a long one included."""
    h = Harness()
    transport, protocol = await start_hep_listener(h.on_packet, "127.0.0.1", 0, stats=h.stats)
    h.port = transport.get_extra_info("sockname")[1]
    handed: list[object] = []
    decode = protocol.datagram_received

    def keep(data: bytes, addr: tuple[str | int, ...]) -> None:
        handed.append(data)
        decode(data, addr)

    protocol.datagram_received = keep  # type: ignore[method-assign]
    body = b"v=0\r\n" + b"a=x\r\n" * 2000  # about 10 KB of SDP
    long_invite = INVITE.replace(
        b"Content-Length: 0\r\n\r\n", b"Content-Length: %d\r\n\r\n" % len(body)
    )
    sizes = [long_invite + body, INVITE, long_invite + body[:100], INVITE]
    sent = [
        Packet(TS + n, ("10.1.1.1", 5060), ("10.1.1.2", 5060), "udp", payload, 5)
        for n, payload in enumerate(sizes)
    ]
    try:
        for p in sent:
            h.send(encode_hep3(p, capture_id=5))
        await h.settle(len(sent))
    finally:
        transport.close()
        h.sock.close()
    assert [p.payload for p in h.got] == sizes
    assert [type(d) for d in handed] == [bytes] * len(sent)
    assert handed == [encode_hep3(p, capture_id=5) for p in sent]
