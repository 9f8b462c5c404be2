"""Print how fast read_capture turns a capture into SIP packets.

    python bench/read_capture.py [CAPTURE ...] [--count N] [--repeat R]

Without a capture it writes a pcap of N SIP datagrams (default 100,000; every tenth one large
enough to be IP-fragmented) into a temporary folder and reads that. It prints frames, packets
and bytes per second of CPU-bound reading, best of R runs.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from callwatch.capture.packet import Packet
from callwatch.capture.pcap import CaptureStats, read_capture
from callwatch.capture.pcapwrite import write_pcap


def _sample(count: int) -> Iterator[Packet]:
    t0 = 1_700_000_000_000_000
    for i in range(count):
        call = i // 8
        body = b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\n" * (60 if i % 10 == 0 else 3)
        first = (
            f"INVITE sip:{200 + call % 50}@10.0.0.2 SIP/2.0"
            if i % 2 == 0
            else "SIP/2.0 180 Ringing"
        )
        payload = (
            f"{first}\r\nVia: SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bK{i}\r\n"
            f"From: <sip:{100 + call % 30}@pbx>;tag={call}\r\nTo: <sip:{200 + call % 50}@pbx>\r\n"
            f"Call-ID: {call}@bench\r\nCSeq: {i % 8 + 1} INVITE\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode() + body
        src, dst = ("10.0.0.1", 5060), ("10.0.0.2", 5060)
        if i % 2:
            src, dst = dst, src
        yield Packet(t0 + i * 500, src, dst, "udp", payload)


def _measure(path: Path, repeat: int) -> None:
    best = float("inf")
    stats = CaptureStats()
    for _ in range(repeat):
        stats = CaptureStats()
        start = time.perf_counter()
        for _packet in read_capture(path, stats):
            pass
        best = min(best, time.perf_counter() - start)
    print(
        f"{path.name}: {stats.frames:,} frames, {stats.packets:,} SIP packets, "
        f"{stats.bytes / 1e6:.1f} MB in {best:.3f} s -> "
        f"{stats.packets / best:,.0f} packets/s, {stats.frames / best:,.0f} frames/s, "
        f"{stats.bytes / best / 1e6:.1f} MB/s"
    )
    if stats.errors:
        print(f"  errors: {stats.errors}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("captures", nargs="*", type=Path)
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.captures:
        for path in args.captures:
            _measure(path, args.repeat)
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "bench.pcap"
        frames = write_pcap(path, _sample(args.count), mtu=1500)
        print(f"wrote {args.count:,} SIP datagrams in {frames:,} frames to {path.name}")
        _measure(path, args.repeat)


if __name__ == "__main__":
    main()
