"""Property tests: random and mutated bytes give only the documented errors, and end."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from callwatch.capture.hep import decode_hep, encode_hep3, hep_to_packet
from callwatch.capture.packet import HepError, Packet, PcapError
from callwatch.capture.pcap import CaptureStats, read_capture
from callwatch.capture.pcapwrite import write_pcap

PUBLIC = Path(__file__).resolve().parents[1].parent / "shared" / "captures" / "public"
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INVITE = (
    b"INVITE sip:201@10.0.0.2 SIP/2.0\r\nVia: SIP/2.0/UDP 10.0.0.1\r\nCall-ID: f@x\r\n"
    b"Content-Length: 4\r\n\r\nv=0\n"
)
PACKETS = [
    Packet(1_700_000_000_000_000, ("10.0.0.1", 5060), ("10.0.0.2", 5060), "udp", INVITE, 1),
    Packet(1_700_000_000_000_100, ("2001:db8::1", 5060), ("2001:db8::2", 5060), "tcp", INVITE),
]
HEP_SAMPLES = [
    encode_hep3(PACKETS[0], capture_id=1, auth_key=b"key", capture_name="pbx"),
    encode_hep3(PACKETS[1], correlation_id=b"c", compress=True),
]


def _pcap_sample() -> bytes:
    out = io.BytesIO()
    big = Packet(PACKETS[0].ts, PACKETS[0].src, PACKETS[0].dst, "udp", INVITE * 20)
    write_pcap(out, [PACKETS[0], big, PACKETS[1]], mtu=600)
    return out.getvalue()


PCAP_SAMPLES = [_pcap_sample()]
for name in ("heplify_sip_tcp_websocket.pcap", "sngrep_ipv6frag.pcap"):
    if (PUBLIC / name).is_file():
        PCAP_SAMPLES.append((PUBLIC / name).read_bytes()[:12_000])


@st.composite
def mutated(draw: st.DrawFn, samples: list[bytes]) -> bytes:
    """A real sample with a few bytes flipped, cut short, or with bytes inserted."""
    data = bytearray(draw(st.sampled_from(samples)))
    for _ in range(draw(st.integers(1, 8))):
        action = draw(st.sampled_from(["flip", "cut", "insert", "delete"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif action == "cut":
            del data[pos:]
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif data:
            del data[pos : pos + draw(st.integers(1, 64))]
    return bytes(data)


def _decode(data: bytes) -> None:
    try:
        msg = decode_hep(data)
    except HepError:
        return
    if msg.is_sip:
        with contextlib.suppress(HepError):
            hep_to_packet(msg)


@FUZZ
@given(st.binary(max_size=300))
def test_decode_hep_random_bytes(data: bytes) -> None:
    _decode(data)
    _decode(b"HEP3" + data)


@FUZZ
@given(mutated(HEP_SAMPLES))
def test_decode_hep_mutated(data: bytes) -> None:
    _decode(data)


def _read(data: bytes) -> None:
    stats = CaptureStats()
    try:
        packets = list(read_capture(io.BytesIO(data), stats))
    except PcapError:
        return
    assert stats.packets == len(packets)
    assert all(p.frame >= 1 and p.payload for p in packets)


@FUZZ
@given(st.binary(max_size=400))
def test_read_capture_random_bytes(data: bytes) -> None:
    _read(data)
    _read(PCAP_SAMPLES[0][:24] + data)  # a valid pcap header, then noise


@FUZZ
@given(mutated(PCAP_SAMPLES))
def test_read_capture_mutated(data: bytes) -> None:
    _read(data)


def test_every_cut_of_a_capture_yields_a_prefix_and_counts_the_cut() -> None:
    data = PCAP_SAMPLES[0]
    full = list(read_capture(io.BytesIO(data)))
    assert len(full) == 3
    for cut in range(25, len(data)):
        stats = CaptureStats()
        got = list(read_capture(io.BytesIO(data[:cut]), stats))
        assert got == full[: len(got)]
        assert stats.errors == {"truncated_file": 1} or cut in _record_ends(data)


def _record_ends(data: bytes) -> set[int]:
    """Offsets where a pcap record ends (a cut there is a clean end of file)."""
    ends, pos = set(), 24
    while pos + 16 <= len(data):
        pos += 16 + int.from_bytes(data[pos + 8 : pos + 12], "little")
        ends.add(pos)
    return ends
