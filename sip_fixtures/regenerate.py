"""Regenerate the SIP capture fixtures with real SIP software (sipp, Kamailio) and tcpdump.

Run as root from the repository root::

    .venv/bin/python sip_fixtures/regenerate.py [NAME...]

For each fixture this starts tcpdump (snaplen 0, packet-buffered) with a filter for the
fixture's ports, waits until it listens, starts the answering sipp instances (and Kamailio
when the fixture needs a proxy), then the calling sipp instances at their scheduled offsets,
waits for every process, stops tcpdump and writes ``sip_fixtures/NAME.pcap``. Fixtures made of
several captures (a call, then a callback 40 minutes later) are shifted with ``editcap -t``
and joined with ``mergecap``.

The expected-event files (``NAME.expected.json``) are written by hand from the scenario
timings and are never touched here. Stdlib only.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = HERE / "scenarios"
KAMAILIO_CFG = HERE / "kamailio" / "proxy.cfg"
KAMAILIO_MODULES = "/usr/lib/x86_64-linux-gnu/kamailio/modules/"
HEP_PORT = 9060
LOCAL = "127.0.0.1"
PROCESS_TIMEOUT_S = 60.0


class FixtureError(RuntimeError):
    """A fixture could not be generated (a tool failed, a process hung, a port is busy)."""


# --------------------------------------------------------------------------- description


@dataclass(frozen=True)
class Sipp:
    """One sipp process playing one party of the fixture.

    ``uas`` instances start first and wait for calls; the others start ``delay_s`` seconds
    after the first caller started. ``pause_ms`` is sipp's ``-d`` (length of plain
    ``<pause/>``). ``call_id`` fixes the Call-ID of the call a caller places.
    """

    role: str
    scenario: str
    port: int
    keys: Mapping[str, str]
    remote: str | None = None
    uas: bool = False
    pause_ms: int = 0
    call_id: str | None = None
    delay_s: float = 0.0
    ip: str = LOCAL
    transport: str = "u1"
    netns: str | None = None


@dataclass(frozen=True)
class Kamailio:
    """A Kamailio stateful proxy. ``route`` is the config text that picks the target(s)."""

    port: int
    route: str
    trace: bool = False
    topoh: bool = False
    delay_us: int = 0


@dataclass(frozen=True)
class Capture:
    """One tcpdump run with the processes it records.

    ``at_s`` places this capture's first packet that many seconds after the fixture's first
    packet (used to build captures spanning 40 minutes or 2 hours without waiting for them).
    """

    agents: tuple[Sipp, ...]
    proxy: Kamailio | None = None
    interface: str = "lo"
    bpf: str | None = None
    at_s: float | None = None


@dataclass(frozen=True)
class Fixture:
    """A named fixture: one or more captures merged into ``NAME.pcap``."""

    name: str
    captures: tuple[Capture, ...]
    netns: tuple[str, str, str, str] | None = None  # (namespace, host veth, host ip, ns ip)
    notes: str = ""

    def ports(self) -> list[int]:
        """Every port used by the fixture (for checking uniqueness)."""
        out: list[int] = []
        for cap in self.captures:
            out += [a.port for a in cap.agents]
            if cap.proxy:
                out.append(cap.proxy.port)
        return out


def _keys(caller: str, callee: str, ftag: str, ttag: str = "", **more: str) -> dict[str, str]:
    keys = {"caller": caller, "callee": callee, "ftag": ftag, "ttag": ttag or f"t{callee}"}
    keys.update(more)
    return keys


def _pbx(n: int) -> int:
    return 5060 + n


def _phone(n: int, k: int) -> int:
    return 6000 + 10 * n + k


def _ext(n: int, k: int = 1) -> int:
    return 7000 + 10 * n + k


def _direct_call(
    n: int,
    name: str,
    *,
    uac: str,
    uas: str,
    ring_ms: int = 0,
    talk_ms: int = 0,
    caller: str = "01012345678",
    callee: str = "2001",
    ip: str = LOCAL,
    transport: str = "u1",
    call_id: str | None = None,
) -> Capture:
    """A caller sipp talking straight to a phone sipp (the PBX is out of the picture)."""
    host = f"[{ip}]" if ":" in ip else ip
    keys = _keys(caller, callee, ftag=f"{name}-from", ttag=f"{name}-to")
    phone = Sipp(
        "callee", uas, _phone(n, 1), keys, uas=True, pause_ms=ring_ms, ip=ip, transport=transport
    )
    dialer = Sipp(
        "caller",
        uac,
        _ext(n),
        keys,
        remote=f"{host}:{phone.port}",
        pause_ms=talk_ms,
        call_id=call_id or f"{name}@callwatch.test",
        ip=ip,
        transport=transport,
    )
    return Capture((phone, dialer))


def _fixtures() -> list[Fixture]:
    f: list[Fixture] = []
    f.append(
        Fixture(
            "answered_1st_ring",
            (
                _direct_call(
                    1,
                    "answered1",
                    uac="uac_bye.xml",
                    uas="uas_answer.xml",
                    ring_ms=1500,
                    talk_ms=2000,
                ),
            ),
        )
    )
    f.append(
        Fixture(
            "answered_3rd_ring",
            (
                _direct_call(
                    2,
                    "answered3",
                    uac="uac_bye.xml",
                    uas="uas_answer.xml",
                    ring_ms=7000,
                    talk_ms=2000,
                ),
            ),
        )
    )
    f.append(
        Fixture(
            "agent_hangs_up_first",
            (
                _direct_call(
                    3, "agentbye", uac="uac_wait_bye.xml", uas="uas_answer_bye.xml", ring_ms=1500
                ),
            ),
        )
    )
    f.append(
        Fixture(
            "caller_cancels",
            (
                _direct_call(
                    4, "cancel", uac="uac_cancel.xml", uas="uas_ring_cancel.xml", talk_ms=4000
                ),
            ),
        )
    )
    f.append(Fixture("busy", (_direct_call(5, "busy", uac="uac_reject.xml", uas="uas_busy.xml"),)))
    f.append(
        Fixture(
            "ring_timeout",
            (
                _direct_call(
                    6, "noanswer", uac="uac_reject.xml", uas="uas_noanswer.xml", ring_ms=12000
                ),
            ),
        )
    )
    return f


FIXTURES: dict[str, Fixture] = {fx.name: fx for fx in _fixtures()}


# --------------------------------------------------------------------------- running


def _sipp_argv(agent: Sipp, logdir: Path) -> list[str]:
    argv = [
        "sipp",
        *([agent.remote] if agent.remote else []),
        "-sf", str(SCENARIOS / agent.scenario),
        "-i", agent.ip,
        "-p", str(agent.port),
        "-mp", str(agent.port + 20000),
        "-t", agent.transport,
        "-m", "1",
        "-d", str(agent.pause_ms),
        "-nostdin",
        "-timeout", f"{int(PROCESS_TIMEOUT_S) - 5}s",
        "-timeout_error",
        "-trace_err", "-error_file", str(logdir / f"{agent.role}-{agent.port}.err"),
        "-trace_msg", "-message_file", str(logdir / f"{agent.role}-{agent.port}.msg"),
    ]  # fmt: skip
    if agent.call_id:
        argv += ["-cid_str", agent.call_id]
    for key, value in agent.keys.items():
        argv += ["-key", key, value]
    if agent.netns:
        argv = ["ip", "netns", "exec", agent.netns, *argv]
    return argv


def _port_taken(ip: str, port: int, transport: str) -> bool:
    family = socket.AF_INET6 if ":" in ip else socket.AF_INET
    kind = socket.SOCK_STREAM if transport.startswith("t") else socket.SOCK_DGRAM
    with socket.socket(family, kind) as probe:
        try:
            probe.bind((ip, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _wait_bound(ip: str, port: int, transport: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 5.0
    while not _port_taken(ip, port, transport):
        if proc.poll() is not None:
            raise FixtureError(f"process for port {port} exited early ({proc.returncode})")
        if time.monotonic() > deadline:
            raise FixtureError(f"nothing listens on {ip}:{port} after 5 s")
        time.sleep(0.05)


def _kamailio_cfg(proxy: Kamailio, rundir: Path) -> Path:
    text = KAMAILIO_CFG.read_text()
    optional = []
    if proxy.trace:
        optional.append('loadmodule "siptrace.so"')
        optional += [
            f'modparam("siptrace", "duplicate_uri", "sip:{LOCAL}:{HEP_PORT}")',
            'modparam("siptrace", "hep_mode_on", 1)',
            'modparam("siptrace", "hep_version", 3)',
            'modparam("siptrace", "hep_capture_id", 2001)',
            'modparam("siptrace", "trace_on", 1)',
            'modparam("siptrace", "trace_mode", 1)',
        ]
    if proxy.topoh:
        optional.append('loadmodule "topoh.so"')
        optional += [
            'modparam("topoh", "mask_key", "callwatch-fixture")',
            'modparam("topoh", "mask_callid", 1)',
        ]
    delay = f"usleep({proxy.delay_us});" if proxy.delay_us else ""
    text = (
        text.replace("@@LISTEN@@", f"udp:{LOCAL}:{proxy.port}")
        .replace("@@MPATH@@", KAMAILIO_MODULES)
        .replace("@@OPTIONAL_MODULES@@", "\n".join(optional))
        .replace("@@TARGET@@", proxy.route)
        .replace("@@DELAY@@", delay)
    )
    cfg = rundir / "kamailio.cfg"
    cfg.write_text(text)
    return cfg


@contextlib.contextmanager
def _tcpdump(interface: str, bpf: str, out: Path) -> Iterator[None]:
    argv = ["tcpdump", "-i", interface, "-U", "--immediate-mode", "-s", "0", "-n"]
    proc = subprocess.Popen(
        [*argv, "-w", str(out), bpf],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert proc.stderr is not None
    seen = b""
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stderr, selectors.EVENT_READ)
        deadline = time.monotonic() + 10.0
        while b"listening on" not in seen:
            if time.monotonic() > deadline or proc.poll() is not None:
                proc.kill()
                raise FixtureError(f"tcpdump did not start: {seen.decode(errors='replace')}")
            if sel.select(timeout=0.2):
                chunk = os.read(proc.stderr.fileno(), 4096)
                if not chunk:
                    break
                seen += chunk
    try:
        yield
    finally:
        time.sleep(0.3)
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _bpf(capture: Capture, extra_fragments: bool) -> str:
    if capture.bpf:
        return capture.bpf
    ports = sorted(
        {a.port for a in capture.agents} | ({capture.proxy.port} if capture.proxy else set())
    )
    expr = " or ".join(f"port {p}" for p in ports)
    if extra_fragments:
        expr = f"({expr}) or (ip[6:2] & 0x1fff != 0)"
    return expr


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _run_capture(capture: Capture, out: Path, logdir: Path, fragments: bool) -> None:
    """Record one capture to ``out``: tcpdump first, then the answering side, then callers."""
    started: list[tuple[Sipp, subprocess.Popen[bytes]]] = []
    kamailio: subprocess.Popen[bytes] | None = None
    with _tcpdump(capture.interface, _bpf(capture, fragments), out):
        try:
            for agent in (a for a in capture.agents if a.uas):
                proc = _spawn(_sipp_argv(agent, logdir), logdir / f"{agent.role}-{agent.port}.out")
                started.append((agent, proc))
                if agent.netns:
                    time.sleep(0.5)
                else:
                    _wait_bound(agent.ip, agent.port, agent.transport, proc)
            if capture.proxy:
                kamailio = _start_kamailio(capture.proxy, logdir)
            callers = sorted((a for a in capture.agents if not a.uas), key=lambda a: a.delay_s)
            t0 = time.monotonic()
            for agent in callers:
                time.sleep(max(0.0, t0 + agent.delay_s - time.monotonic()))
                proc = _spawn(_sipp_argv(agent, logdir), logdir / f"{agent.role}-{agent.port}.out")
                started.append((agent, proc))
            deadline = time.monotonic() + PROCESS_TIMEOUT_S
            for agent, proc in started:
                try:
                    rc = proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired as exc:
                    raise FixtureError(f"sipp {agent.role}:{agent.port} hung") from exc
                if rc != 0:
                    raise FixtureError(
                        f"sipp {agent.role}:{agent.port} ({agent.scenario}) exited {rc}; "
                        f"logs in {logdir}"
                    )
        finally:
            for _, proc in started:
                _stop(proc)
            if kamailio is not None:
                _stop(kamailio)


def _spawn(argv: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(argv, stdout=sink, stderr=subprocess.STDOUT, cwd=log.parent)


def _start_kamailio(proxy: Kamailio, logdir: Path) -> subprocess.Popen[bytes]:
    rundir = logdir / f"kamailio-{proxy.port}"
    rundir.mkdir()
    cfg = _kamailio_cfg(proxy, rundir)
    check = subprocess.run(
        ["kamailio", "-c", "-f", str(cfg)], capture_output=True, text=True, check=False
    )
    if check.returncode != 0:
        raise FixtureError(f"kamailio config check failed:\n{check.stderr[-2000:]}")
    proc = _spawn(
        ["kamailio", "-f", str(cfg), "-P", str(rundir / "kamailio.pid"), "-Y", str(rundir),
         "-DD", "-E"],
        rundir / "kamailio.log",
    )  # fmt: skip
    _wait_bound(LOCAL, proxy.port, "u1", proc)
    return proc


def _first_packet_time(pcap: Path) -> float:
    """Capture time of the first record of a classic pcap file (seconds)."""
    data = pcap.read_bytes()[:40]
    if len(data) < 40:
        raise FixtureError(f"{pcap} holds no packets")
    magic = data[:4]
    if magic == b"\xd4\xc3\xb2\xa1":
        order, scale = "<", 1e-6
    elif magic == b"\xa1\xb2\xc3\xd4":
        order, scale = ">", 1e-6
    elif magic == b"\x4d\x3c\xb2\xa1":
        order, scale = "<", 1e-9
    else:
        raise FixtureError(f"{pcap} is not a classic pcap file")
    sec, frac = struct.unpack(order + "II", data[24:32])
    return sec + frac * scale


@contextlib.contextmanager
def _netns(spec: tuple[str, str, str, str]) -> Iterator[None]:
    """A network namespace joined to the host by a veth pair with the default 1500 MTU."""
    ns, host_if, host_ip, ns_ip = spec
    peer = host_if + "p"
    steps = [
        ["ip", "netns", "add", ns],
        ["ip", "link", "add", host_if, "mtu", "1500", "type", "veth", "peer", "name", peer],
        ["ip", "link", "set", peer, "netns", ns],
        ["ip", "addr", "add", f"{host_ip}/30", "dev", host_if],
        ["ip", "link", "set", host_if, "up"],
        ["ip", "netns", "exec", ns, "ip", "addr", "add", f"{ns_ip}/30", "dev", peer],
        ["ip", "netns", "exec", ns, "ip", "link", "set", peer, "mtu", "1500", "up"],
        ["ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up"],
    ]
    try:
        for step in steps:
            subprocess.run(step, check=True, capture_output=True)
        yield
    finally:
        subprocess.run(["ip", "link", "del", host_if], check=False, capture_output=True)
        subprocess.run(["ip", "netns", "del", ns], check=False, capture_output=True)


def generate(fixture: Fixture, logroot: Path) -> Path:
    """Record ``fixture`` and write ``sip_fixtures/NAME.pcap``; returns its path."""
    logdir = logroot / fixture.name
    logdir.mkdir(parents=True)
    parts: list[Path] = []
    ctx = _netns(fixture.netns) if fixture.netns else contextlib.nullcontext()
    with ctx:
        for i, capture in enumerate(fixture.captures):
            part = logdir / f"part{i}.pcap"
            _run_capture(capture, part, logdir, fragments=fixture.netns is not None)
            parts.append(part)
    target = HERE / f"{fixture.name}.pcap"
    if len(parts) == 1:
        shutil.copyfile(parts[0], target)
        return target
    origin = _first_packet_time(parts[0])
    shifted: list[Path] = []
    for part, capture in zip(parts, fixture.captures, strict=True):
        if capture.at_s is None:
            shifted.append(part)
            continue
        delta = origin + capture.at_s - _first_packet_time(part)
        moved = part.with_suffix(".shifted.pcap")
        subprocess.run(["editcap", "-t", f"{delta:.6f}", str(part), str(moved)], check=True)
        shifted.append(moved)
    subprocess.run(["mergecap", "-F", "pcap", "-w", str(target), *map(str, shifted)], check=True)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Command line entry: regenerate the named fixtures (all when none are named)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("names", nargs="*", help="fixtures to regenerate (default: all)")
    parser.add_argument("--keep-logs", action="store_true", help="keep sipp/kamailio logs")
    parser.add_argument("--list", action="store_true", help="list the fixture names")
    args = parser.parse_args(argv)
    if args.list:
        print("\n".join(FIXTURES))
        return 0
    unknown = [n for n in args.names if n not in FIXTURES]
    if unknown:
        parser.error(f"unknown fixture(s): {', '.join(unknown)}")
    missing = [
        tool for tool in ("sipp", "tcpdump", "editcap", "mergecap") if not shutil.which(tool)
    ]
    if missing:
        parser.error(f"missing tools: {', '.join(missing)}")
    logroot = Path(tempfile.mkdtemp(prefix="callwatch-fixtures-"))
    failed = 0
    for name in args.names or list(FIXTURES):
        started = time.monotonic()
        try:
            path = generate(FIXTURES[name], logroot)
        except (FixtureError, subprocess.CalledProcessError, OSError) as exc:
            failed += 1
            print(f"FAIL {name}: {exc}", file=sys.stderr)
            continue
        took = time.monotonic() - started
        print(f"ok   {name}: {path.stat().st_size} bytes in {took:.1f} s")
    if args.keep_logs or failed:
        print(f"logs: {logroot}", file=sys.stderr)
    else:
        shutil.rmtree(logroot, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
