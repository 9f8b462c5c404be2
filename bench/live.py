"""Live service benchmark: HEP rate with zero loss, and event → MQTT breach latency.

Starts ``callwatch serve`` (a subprocess, temp SQLite store, ephemeral ports) and:

1. **Ramp**: sends HEP datagrams on loopback at rising rates, each step for ``--step-seconds``,
   built from a fixture call repeated with fresh Call-IDs and caller numbers, and reads the
   service's own ``callwatch_frames_total`` to count what arrived. Reports every step and the
   highest rate with zero loss (target ≥ 20,000 packets/s). The sender is bounded: it stops at
   ``--max-rate`` or at the first step with loss. Each step also says the CPU time per packet
   received (from ``/proc``, Linux) of the service's event-loop thread, of the whole service
   process (its threads too) and of the store process: a figure that, unlike the loss at the
   edge of saturation, barely depends on what else the machine runs, so two trees compare at
   a rate both take whole.
2. **Latency** (needs Mosquitto, default 127.0.0.1:1883): calls whose agent hangs up first (a
   hang-up breach each, 3.5 s long) are sent 14 s apart in capture time but back to back in
   wall time, so the burst of call k+1 settles call k: its INVITE is past call k's 10 s linger,
   and its 200 OK, sent right after it, moves the core's 0.5 s reorder window past that INVITE.
   The latency is from sending that burst to the breach arriving on MQTT. (With 11 s, as
   before, only call k+2's burst settled call k: the figure then held the sender's pause
   between calls, ``1 / --calls-per-second``, not the service's delay.) Reports p50 / p99
   (target p99 ≤ 50 ms).

    .venv/bin/python bench/live.py [--max-rate 60000] [--calls 300] [--mqtt 127.0.0.1:1883]

Prints figures only; nothing asserts them. The first lines say what served (version line,
core, the commit of the ``callwatch`` the service imports when it is a git checkout) and the
load average before and after each part, so a figure can be quoted with its circumstances; to
compare two trees, run it with ``PYTHONPATH`` set to each one's ``src`` (or a compiled wheel's
directory) in turn (docs/performance.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

import httpx

from callwatch.capture import encode_hep3, read_capture

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "sip_fixtures"
BIN = Path(sys.executable).parent


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FIXTURE_CALLER = b"01012345678"
"""The customer's number in the fixture calls used here (From, Contact, SDP origin)."""


def _calls(fixture: str, call_id: bytes, n: int, start: int, spacing: int) -> list[list[bytes]]:
    """``n`` copies of a fixture call as HEP datagrams, ``spacing`` µs apart in capture time,
    the packets of each call keeping their own intervals. Each copy has its own Call-ID and
    its own caller number (``010`` and 8 digits, the same length, so Content-Length holds):
    many customers, as on a real trunk. (One number ringing hundreds of times at once would
    rightly be tied into one call by the B2BUA rule, which is not the load to measure.)"""
    pk = list(read_capture(FIXTURES / f"{fixture}.pcap"))
    base = pk[0].ts
    out = []
    for i in range(n):
        fresh = f"b{i}-{uuid.uuid4().hex[:6]}@bench".encode()
        caller = b"010" + f"{i % 10**8:08d}".encode()
        out.append(
            [
                encode_hep3(
                    replace(
                        p,
                        ts=start + i * spacing + (p.ts - base),
                        payload=p.payload.replace(call_id, fresh).replace(FIXTURE_CALLER, caller),
                    )
                )
                for p in pk
            ]
        )
    return out


class Server:
    def __init__(self, mqtt: str | None) -> None:
        self.tmp = tempfile.TemporaryDirectory(prefix="callwatch-bench-")
        self.site = f"bench-{uuid.uuid4().hex[:8]}"
        text = (ROOT / "examples" / "site.toml").read_text(encoding="utf-8")
        site_file = Path(self.tmp.name) / "site.toml"
        site_file.write_text(text.replace("naju-cityhall", self.site), encoding="utf-8")
        self.hep_port = _free_port(socket.SOCK_DGRAM)
        self.http_port = _free_port(socket.SOCK_STREAM)
        env = {
            **os.environ,
            "CALLWATCH_HEP_HOST": "127.0.0.1",
            "CALLWATCH_HEP_PORT": str(self.hep_port),
            "CALLWATCH_HTTP_HOST": "127.0.0.1",
            "CALLWATCH_HTTP_PORT": str(self.http_port),
            "CALLWATCH_DATA_DIR": str(Path(self.tmp.name) / "data"),
            "CALLWATCH_MONITORING": "open",  # /readyz and /metrics without an admin token
            # the latency run's calls are 14 s apart in capture time but sent back to back,
            # so its capture time runs up to an hour ahead of the wall clock
            "CALLWATCH_CLOCK_AHEAD_S": "86400",
        }
        env.pop("CALLWATCH_DATABASE_URL", None)
        env.pop("CALLWATCH_MQTT_URL", None)
        if mqtt:
            env["CALLWATCH_MQTT_URL"] = f"mqtt://{mqtt}"
        self.proc = subprocess.Popen(
            [str(BIN / "callwatch"), "serve", "--config", str(site_file)],
            env=env,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.http_port}"

    def wait_ready(self) -> None:
        for _ in range(300):
            try:
                if httpx.get(f"{self.url}/readyz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise SystemExit("callwatch serve did not become ready")

    def metrics(self) -> dict[str, float]:
        """Every sample of ``/metrics``, by its name and labels as printed."""
        out = {}
        for line in httpx.get(f"{self.url}/metrics").text.splitlines():
            if line and not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                out[name] = float(value)
        return out

    def frames(self) -> int:
        return int(self.metrics().get('callwatch_frames_total{source="hep"}', 0))

    def health(self) -> tuple[int, int, int]:
        """Kernel drops on the HEP socket, items queued for the store, and collector pauses
        of 50 ms or more, so far."""
        m = self.metrics()
        long_pauses = 0
        for g in range(3):
            total = m.get(f'callwatch_gc_pause_seconds_count{{generation="{g}"}}', 0)
            short = m.get(f'callwatch_gc_pause_seconds_bucket{{generation="{g}",le="0.05"}}', 0)
            long_pauses += int(total - short)
        return (
            int(m.get('callwatch_kernel_drops_total{source="hep"}', 0)),
            int(m.get('callwatch_sink_queued{sink="store"}', 0)),
            long_pauses,
        )

    def settle(self) -> int:
        """Frames received once the count stops moving."""
        last = -1
        while True:
            time.sleep(0.5)
            now = self.frames()
            if now == last:
                return now
            last = now

    def cpu(self) -> tuple[float, float, float]:
        """CPU seconds so far of the event-loop thread, the whole service and its children
        (the store process): ``/proc`` on Linux, zeros elsewhere."""
        pid = self.proc.pid
        try:
            loop = _cpu_seconds(f"/proc/{pid}/task/{pid}/stat")
            whole = _cpu_seconds(f"/proc/{pid}/stat")
            children = 0.0
            for task in Path(f"/proc/{pid}/task").iterdir():
                for child in (task / "children").read_text().split():
                    children += _cpu_seconds(f"/proc/{child}/stat")
        except OSError:
            return 0.0, 0.0, 0.0
        return loop, whole, children

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.tmp.cleanup()


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def _cpu_seconds(stat: str) -> float:
    """User and system CPU seconds of the process or thread whose ``stat`` file is given."""
    with open(stat) as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK  # utime, stime (fields 14 and 15)


def _send_paced(sock: socket.socket, addr: tuple[str, int], grams: list[bytes], rate: int) -> float:
    """Send ``grams`` at ``rate`` per second (checked every 1 ms slice); the achieved rate."""
    per_slice = max(1, rate // 1000)
    start = time.perf_counter()
    sent = 0
    for i in range(0, len(grams), per_slice):
        for g in grams[i : i + per_slice]:
            sock.sendto(g, addr)
        sent += len(grams[i : i + per_slice])
        ahead = sent / rate - (time.perf_counter() - start)
        if ahead > 0:
            time.sleep(ahead)
    return sent / (time.perf_counter() - start)


def ramp(args: argparse.Namespace) -> None:
    server = Server(None)
    try:
        server.wait_ready()
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        addr = ("127.0.0.1", server.hep_port)
        start = time.time_ns() // 1000
        best = 0
        print(
            "rate (pkt/s)  achieved  sent     received  lost  kernel-drops  store-queued"
            "  gc-pauses>=50ms  CPU µs/pkt: loop  service  store"
        )
        for rate in range(args.min_rate, args.max_rate + 1, args.rate_step):
            n_calls = max(1, rate * args.step_seconds // 6)
            calls = _calls("answered_3rd_ring", b"answered3@callwatch.test", n_calls, start, 20_000)
            start += n_calls * 20_000 + 60_000_000
            grams = [g for call in calls for g in call]
            before = server.frames()
            drops_before, _, pauses_before = server.health()
            cpu_before = server.cpu()
            achieved = _send_paced(sock, addr, grams, rate)
            drops, queued, pauses = server.health()  # as the step's last datagram leaves
            got = server.settle() - before
            cpu = [
                (after - earlier) * 1e6 / max(got, 1)
                for after, earlier in zip(server.cpu(), cpu_before, strict=True)
            ]
            lost = len(grams) - got
            print(
                f"{rate:>12,}  {achieved:>8,.0f}  {len(grams):>7,}  {got:>8,}  {lost:>4}"
                f"  {drops - drops_before:>12}  {queued:>12,}  {pauses - pauses_before:>15}"
                f"  {cpu[0]:>15.1f}  {cpu[1]:>7.1f}  {cpu[2]:>5.1f}"
            )
            if lost:
                break
            best = rate
        print(f"highest rate with zero loss: {best:,} packets/s (target ≥ 20,000)")
    finally:
        server.stop()


async def latency(args: argparse.Namespace) -> None:
    import aiomqtt

    host, _, port = args.mqtt.partition(":")
    server = Server(args.mqtt)
    try:
        await asyncio.to_thread(server.wait_ready)
        arrived: dict[str, float] = {}
        async with aiomqtt.Client(host, int(port or 1883)) as client:
            await client.subscribe(f"callwatch/{server.site}/breaches/#", qos=1)

            async def listen() -> None:
                async for msg in client.messages:
                    arrived[json.loads(msg.payload)["call"]] = time.perf_counter()

            listener = asyncio.create_task(listen())
            calls = _calls(
                "agent_hangs_up_first",
                b"agentbye@callwatch.test",
                args.calls + 1,
                time.time_ns() // 1000,
                14_000_000,
            )
            sent_at: dict[str, float] = {}
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            addr = ("127.0.0.1", server.hep_port)
            previous: str | None = None
            for call in calls:
                for i, gram in enumerate(call):
                    sock.sendto(gram, addr)
                    if i == 0 and previous is not None:
                        sent_at[previous] = time.perf_counter()
                previous = _call_id(call[0])
                await asyncio.sleep(1 / args.calls_per_second)
            deadline = time.perf_counter() + 10
            while len(arrived) < len(sent_at) and time.perf_counter() < deadline:
                await asyncio.sleep(0.05)
            listener.cancel()
        lat = sorted((arrived[c] - t) * 1000 for c, t in sent_at.items() if c in arrived)
        if not lat:
            print("no breach arrived")
            return
        p50 = statistics.median(lat)
        p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
        print(
            f"event → MQTT breach latency over {len(lat)} of {len(sent_at)} breaches: "
            f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {lat[-1]:.1f} ms (target p99 ≤ 50 ms)"
        )
    finally:
        await asyncio.to_thread(server.stop)


def _call_id(hep: bytes) -> str:
    head = hep[hep.index(b"INVITE ") :]
    line = next(x for x in head.split(b"\r\n") if x.lower().startswith(b"call-id:"))
    return line.split(b":", 1)[1].strip().decode()


def _load_average() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def _source() -> str:
    """The commit of the callwatch a subprocess here imports (PYTHONPATH counts), if in git."""
    where = subprocess.run(
        [sys.executable, "-c", "import callwatch, os; print(os.path.dirname(callwatch.__file__))"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    try:
        rev = subprocess.run(
            ["git", "-C", where, "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", where, "status", "--porcelain", "--", "."],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "not a git checkout"
    return rev + ("+changes" if dirty else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-rate", type=int, default=5_000)
    parser.add_argument("--max-rate", type=int, default=60_000)
    parser.add_argument("--rate-step", type=int, default=5_000)
    parser.add_argument(
        "--step-seconds",
        type=int,
        default=10,
        help="long enough that the socket's receive buffer cannot hide a shortfall",
    )
    parser.add_argument("--calls", type=int, default=300, help="breaches for the latency run")
    parser.add_argument("--calls-per-second", type=float, default=50)
    parser.add_argument("--mqtt", default="127.0.0.1:1883", help="broker host:port, or ''")
    parser.add_argument("--skip-ramp", action="store_true")
    args = parser.parse_args()
    version = subprocess.run(
        [str(BIN / "callwatch"), "--version"], capture_output=True, text=True, check=True
    )
    print(f"serving with: {version.stdout.strip()}, source: {_source()}, {os.cpu_count()} CPUs")
    if not args.skip_ramp:
        print(f"load average {_load_average()} (1/5/15 min) before the ramp", flush=True)
        ramp(args)
    if args.mqtt:
        print(f"load average {_load_average()} before the latency run", flush=True)
        asyncio.run(latency(args))
    print(f"load average {_load_average()} at the end")


if __name__ == "__main__":
    main()
