"""The AF_PACKET sniffer: its BPF program (run in a small interpreter), live capture on
loopback (plain UDP and a real sipp call), and the message when the capability is missing."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from callwatch.capture.sniffer import SnifferError, sip_filter, start_sniffer
from callwatch.capture.stats import CaptureStats
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline, JudgedCall

ROOT = Path(__file__).resolve().parent.parent
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
needs_root = pytest.mark.skipif(
    not (IS_ROOT and sys.platform.startswith("linux")), reason="needs root on Linux"
)

# -- a classic BPF interpreter for the opcodes the filter uses ----------------------------


def run_bpf(program: list[tuple[int, int, int, int]], frame: bytes) -> int:
    """Run ``program`` on ``frame`` as the kernel would; the return value (0 = drop)."""
    a = x = 0
    pc = 0

    def load(offset: int, size: int) -> int | None:
        if offset + size > len(frame):
            return None
        return int.from_bytes(frame[offset : offset + size], "big")

    while True:
        code, jt, jf, k = program[pc]
        pc += 1
        if code in (0x28, 0x30, 0x48):  # ld h abs, ld b abs, ld h ind
            size = 1 if code == 0x30 else 2
            value = load(k + (x if code == 0x48 else 0), size)
            if value is None:
                return 0  # out of bounds: the kernel drops the frame
            a = value
        elif code == 0xB1:  # ldx b msh
            value = load(k, 1)
            if value is None:
                return 0
            x = (value & 0x0F) * 4
        elif code == 0x15:  # jeq k
            pc += jt if a == k else jf
        elif code == 0x45:  # jset k
            pc += jt if a & k else jf
        elif code == 0x06:  # ret k
            return k
        else:
            raise AssertionError(f"unexpected opcode 0x{code:02x}")


def eth(ethertype: int, body: bytes) -> bytes:
    return b"\x00" * 12 + struct.pack("!H", ethertype) + body


def ipv4(proto: int, l4: bytes, frag: int = 0, options: bytes = b"") -> bytes:
    ihl = (20 + len(options)) // 4
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x40 | ihl,
        0,
        20 + len(options) + len(l4),
        1,
        frag,
        64,
        proto,
        0,
        bytes([10, 0, 0, 1]),
        bytes([10, 0, 0, 2]),
    )
    return eth(0x0800, head + options + l4)


def ipv6(next_header: int, l4: bytes) -> bytes:
    head = struct.pack(
        "!IHBB16s16s", 6 << 28, len(l4), next_header, 64, b"\0" * 15 + b"\1", b"\0" * 16
    )
    return eth(0x86DD, head + l4)


def udp(sport: int, dport: int) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + 7, 0) + b"OPTIONS"


def tcp(sport: int, dport: int) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 5 << 4, 0x18, 1000, 0, 0) + b"INVITE "


FILTER = sip_filter((5060, 5061))


@pytest.mark.parametrize(
    ("frame", "kept"),
    [
        (ipv4(17, udp(40000, 5060)), True),
        (ipv4(17, udp(5061, 40000)), True),
        (ipv4(6, tcp(40000, 5060)), True),
        (ipv4(6, tcp(5060, 40000)), True),
        (ipv4(17, udp(40000, 5062)), False),
        (ipv4(17, udp(9060, 40000)), False),
        (ipv4(1, b"\x08\x00" + b"\0" * 30), False),  # ICMP
        (ipv4(17, udp(40000, 5060), options=b"\x01\x01\x01\x01"), True),  # IHL 6
        (ipv4(17, udp(40000, 9999), options=b"\x01\x01\x01\x01"), False),
        (ipv4(17, b"fragment tail bytes", frag=185), True),  # a later fragment: no ports
        (ipv4(17, udp(40000, 5060), frag=0x2000), True),  # first fragment: ports checked
        (ipv4(17, udp(40000, 7000), frag=0x2000), False),
        (ipv6(17, udp(40000, 5060)), True),
        (ipv6(6, tcp(5061, 40000)), True),
        (ipv6(17, udp(40000, 5070)), False),
        (ipv6(44, b"\x11\x00\x00\x01\x00\x00\x00\x07" + b"x" * 16), True),
        (ipv6(58, b"\x80\x00" + b"\0" * 30), False),  # ICMPv6
        (eth(0x0806, b"\0" * 28), False),  # ARP
        (b"\x00" * 10, False),  # runt frame
    ],
)
def test_bpf_keeps_only_sip_ports(frame: bytes, kept: bool) -> None:
    assert (run_bpf(FILTER, frame) > 0) is kept


def test_bpf_program_for_configured_ports() -> None:
    program = sip_filter((5070,))
    assert run_bpf(program, ipv4(17, udp(40000, 5070))) > 0
    assert run_bpf(program, ipv4(17, udp(40000, 5060))) == 0
    assert run_bpf(program, ipv6(17, udp(5070, 1))) > 0
    many = sip_filter(tuple(range(5060, 5160)))  # the most ports: every jump still fits
    for frame, kept in [
        (ipv4(17, udp(5060, 1)), True),
        (ipv4(17, udp(40000, 5159)), True),
        (ipv4(17, udp(40000, 5160)), False),
        (ipv6(6, tcp(40000, 5159)), True),
        (ipv6(6, tcp(40000, 5160)), False),
        (eth(0x0806, b"\0" * 28), False),
    ]:
        assert (run_bpf(many, frame) > 0) is kept


@pytest.mark.parametrize("ports", [(), (0,), (70000,), tuple(range(1000, 1101))])
def test_bpf_rejects_bad_ports(ports: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="SIP ports"):
        sip_filter(ports)


# -- live, on loopback ---------------------------------------------------------------------


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs_root
async def test_sniffs_udp_sip_on_loopback_once_each() -> None:
    port = free_udp_port()
    tag = os.urandom(4).hex()  # other loopback traffic may use the port too: count ours only
    got = []
    stats = CaptureStats()
    sniffer = await start_sniffer(got.append, "lo", ports=(port,), stats=stats)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s4:
            for n in range(3):
                body = f"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: {tag}c{n}\r\nContent-Length: 0\r\n\r\n"
                s4.sendto(body.encode(), ("127.0.0.1", port))
            s4.sendto(
                f"OPTIONS sip:x SIP/2.0\r\nCall-ID: {tag}x\r\n\r\n".encode(),
                ("127.0.0.1", port + 1),
            )  # filtered out
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s6:
            s6.sendto(
                f"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: {tag}v6\r\n\r\n".encode(), ("::1", port)
            )
        ours = []
        for _ in range(100):
            ours = [p for p in got if tag.encode() in p.payload]
            if len(ours) >= 4:
                break
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.1)  # anything more (a duplicate) would arrive now
        assert sniffer.kernel_drops() == 0
    finally:
        sniffer.close()
    ours = [p for p in got if tag.encode() in p.payload]
    ids = sorted(p.payload.split(b"Call-ID: ")[1].split(b"\r")[0] for p in ours)
    assert ids == [f"{tag}{n}".encode() for n in ("c0", "c1", "c2", "v6")]
    assert all(p.dst[1] == port and p.transport == "udp" for p in ours)
    assert {p.dst[0] for p in ours} == {"127.0.0.1", "::1"}
    assert stats.packets == len(got) >= 4 and stats.frames >= 4
    assert sniffer.closed and sniffer.kernel_drops() is None


@needs_root
@pytest.mark.skipif(shutil.which("sipp") is None, reason="needs sipp (sip-tester)")
async def test_sipp_call_on_loopback_is_assembled() -> None:
    uas_port, uac_port = free_udp_port(), free_udp_port()
    got = []
    sniffer = await start_sniffer(got.append, "lo", ports=(uas_port,))
    common = ["-i", "127.0.0.1", "-m", "1", "-nostdin", "-timeout", "20s"]
    try:
        uas = await asyncio.create_subprocess_exec(
            "sipp", "-sn", "uas", "-p", str(uas_port), "-mp", str(free_udp_port()), *common,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        await asyncio.sleep(0.5)
        uac = await asyncio.create_subprocess_exec(
            "sipp", f"127.0.0.1:{uas_port}", "-sn", "uac", "-s", "2001", "-d", "300",
            "-p", str(uac_port), "-mp", str(free_udp_port()), *common,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert await asyncio.wait_for(uac.wait(), 25) == 0
        assert await asyncio.wait_for(uas.wait(), 25) == 0
        await asyncio.sleep(0.1)
    finally:
        sniffer.close()
    first_lines = [p.payload.split(b"\r\n", 1)[0].split(b" ")[0] for p in got]
    assert first_lines.count(b"INVITE") == 1 and first_lines.count(b"BYE") == 1
    pipe = CallPipeline(load_site(ROOT / "examples" / "site.toml"))
    out = [o for p in got for o in pipe.push(p)] + pipe.flush()
    calls = [o.call for o in out if isinstance(o, JudgedCall)]
    assert len(calls) == 1
    call = calls[0]
    assert (call.dialled, call.answered_by, call.hangup_by) == ("2001", "2001", "caller")
    assert call.department == "민원" and call.complete
    assert call.first_ring_at is not None and call.first_ring_at <= call.answered_at
    assert 0.25 < (call.ended_at - call.answered_at) / 1e6 < 5  # sipp's -d 300 pause


@needs_root
def test_without_cap_net_raw_the_error_says_so() -> None:
    script = textwrap.dedent(
        """
        import os
        from callwatch.capture.sniffer import SnifferError, open_sniffer_socket
        os.setgroups([]); os.setgid(65534); os.setuid(65534)  # no root, no CAP_NET_RAW
        try:
            open_sniffer_socket("lo")
        except SnifferError as exc:
            print(exc)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=False
    )
    assert done.returncode == 0, done.stderr
    assert "needs root or CAP_NET_RAW" in done.stdout
    assert "setcap cap_net_raw+ep" in done.stdout


@needs_root
async def test_unknown_interface_is_a_clear_error() -> None:
    with pytest.raises(SnifferError, match="no network interface named 'nosuch0'"):
        await start_sniffer(lambda p: None, "nosuch0")
