"""pcap/pcapng reading: formats, link types, IP reassembly, TCP/WebSocket framing, HEP in UDP,
bad files, and the public real-world captures against their tshark ground truth."""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
from pathlib import Path

import pytest

from callwatch.capture.hep import encode_hep3
from callwatch.capture.packet import Packet, PcapError
from callwatch.capture.pcap import CaptureStats, read_capture
from callwatch.capture.pcapwrite import write_pcap

PUBLIC = Path(__file__).resolve().parents[1].parent / "shared" / "captures" / "public"
needs_public = pytest.mark.skipif(
    not PUBLIC.is_dir(), reason=f"public captures not found at {PUBLIC} (shared/ not beside repo)"
)

A = ("10.0.0.1", 5060)
B = ("10.0.0.2", 5062)
T0 = 1_700_000_000_000_000


def sip(first: str, body: bytes = b"", *, length_header: str = "Content-Length") -> bytes:
    head = (
        f"{first}\r\nVia: SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK{len(body)}\r\n"
        f"Call-ID: c1@x\r\nCSeq: 1 INVITE\r\n{length_header}: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


INVITE = sip("INVITE sip:201@10.0.0.2 SIP/2.0", b"v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\n")
RINGING = sip("SIP/2.0 180 Ringing")
OK = sip("SIP/2.0 200 OK", b"v=0\r\n" * 30)
BYE = sip("BYE sip:101@10.0.0.1 SIP/2.0", length_header="l")


def read_all(source: object, stats: CaptureStats | None = None) -> list[Packet]:
    return list(read_capture(source, stats))  # type: ignore[arg-type]


# --- building captures by hand --------------------------------------------------------------


def pcap_bytes(
    frames: list[tuple[int, bytes]], linktype: int = 1, *, big: bool = False, nano: bool = False
) -> bytes:
    order = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)]
    for ts, frame in frames:
        sec, usec = divmod(ts, 1_000_000)
        out.append(
            struct.pack(order + "IIII", sec, usec * 1000 if nano else usec, len(frame), len(frame))
        )
        out.append(frame)
    return b"".join(out)


def ipv4(proto: int, src: str, dst: str, payload: bytes, ident: int = 1, frag: int = 0) -> bytes:
    return (
        struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(payload),
            ident,
            frag,
            64,
            proto,
            0,
            socket.inet_aton(src),
            socket.inet_aton(dst),
        )
        + payload
    )


def ipv6(nh: int, src: str, dst: str, payload: bytes) -> bytes:
    return (
        struct.pack(
            "!IHBB16s16s",
            0x60000000,
            len(payload),
            nh,
            64,
            socket.inet_pton(socket.AF_INET6, src),
            socket.inet_pton(socket.AF_INET6, dst),
        )
        + payload
    )


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def tcp(sport: int, dport: int, seq: int, payload: bytes = b"", flags: int = 0x18) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, flags, 65535, 0, 0) + payload


def eth(ip: bytes, vlans: int = 0) -> bytes:
    etype = b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd"
    tags = b"".join(b"\x81\x00" + struct.pack("!H", 100 + i) for i in range(vlans))
    return b"\x02" * 6 + b"\x04" * 6 + tags + etype + ip


def udp_frame(payload: bytes, src: tuple[str, int] = A, dst: tuple[str, int] = B) -> bytes:
    return eth(ipv4(17, src[0], dst[0], udp(src[1], dst[1], payload)))


def tcp_frame(seq: int, payload: bytes = b"", *, back: bool = False, flags: int = 0x18) -> bytes:
    src, dst = (B, A) if back else (A, B)
    return eth(ipv4(6, src[0], dst[0], tcp(src[1], dst[1], seq, payload, flags)))


def pcapng_bytes(
    frames: list[tuple[int, bytes]], *, big: bool = False, tsresol: int = 6, spb: bool = False
) -> bytes:
    o = ">" if big else "<"

    def block(kind: int, body: bytes) -> bytes:
        body += b"\x00" * (-len(body) % 4)
        return (
            struct.pack(o + "II", kind, 12 + len(body))
            + body
            + struct.pack(o + "I", 12 + len(body))
        )

    out = [block(0x0A0D0D0A, struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1))]
    options = struct.pack(o + "HH", 9, 1) + bytes([tsresol]) + b"\x00" * 3 + bytes(4)
    out.append(block(1, struct.pack(o + "HHI", 1, 0, 0) + options))
    out.append(block(0x0BAD, b"custom block"))  # unknown block: skipped
    per = 10**tsresol
    for i, (ts, frame) in enumerate(frames):
        units = ts * per // 1_000_000
        if spb and i % 2:
            out.append(block(3, struct.pack(o + "I", len(frame)) + frame))
        elif i % 3 == 2:  # obsolete packet block
            out.append(
                block(
                    2,
                    struct.pack(
                        o + "HHIIII", 0, 0, units >> 32, units & 0xFFFFFFFF, len(frame), len(frame)
                    )
                    + frame,
                )
            )
        else:
            out.append(
                block(
                    6,
                    struct.pack(
                        o + "IIIII", 0, units >> 32, units & 0xFFFFFFFF, len(frame), len(frame)
                    )
                    + frame,
                )
            )
    return b"".join(out)


SIMPLE = [(T0, udp_frame(INVITE)), (T0 + 10, udp_frame(RINGING, B, A)), (T0 + 20, udp_frame(OK))]


def check_simple(packets: list[Packet], *, ts_step: int = 10) -> None:
    assert [p.payload for p in packets] == [INVITE, RINGING, OK]
    assert [p.ts for p in packets] == [T0, T0 + ts_step, T0 + 2 * ts_step]
    assert [p.frame for p in packets] == [1, 2, 3]
    assert packets[0].src == A and packets[0].dst == B and packets[1].src == B
    assert {p.transport for p in packets} == {"udp"}


# --- formats --------------------------------------------------------------------------------


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("nano", [False, True])
def test_pcap_byte_orders_and_resolutions(big: bool, nano: bool) -> None:
    stats = CaptureStats()
    check_simple(read_all(io.BytesIO(pcap_bytes(SIMPLE, big=big, nano=nano)), stats))
    assert (stats.frames, stats.packets, stats.errors) == (3, 3, {})


@pytest.mark.parametrize("big", [False, True])
@pytest.mark.parametrize("tsresol", [6, 9])
def test_pcapng_blocks(big: bool, tsresol: int) -> None:
    check_simple(read_all(io.BytesIO(pcapng_bytes(SIMPLE, big=big, tsresol=tsresol))))


def test_pcapng_simple_packet_block_takes_previous_time() -> None:
    packets = read_all(io.BytesIO(pcapng_bytes(SIMPLE, spb=True)))
    assert [p.payload for p in packets] == [INVITE, RINGING, OK]
    assert [p.ts for p in packets] == [T0, T0, T0 + 20]


def test_path_and_file_object(tmp_path: Path) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap_bytes(SIMPLE))
    check_simple(read_all(path))
    check_simple(read_all(str(path)))
    with open(path, "rb") as f:
        check_simple(read_all(f))


# --- link layers ----------------------------------------------------------------------------


def _ip_of(frame: bytes) -> bytes:
    return frame[14:]


@pytest.mark.parametrize(
    ("linktype", "wrap"),
    [
        (0, lambda ip: struct.pack("<I", 2) + ip),  # BSD loopback, host order
        (0, lambda ip: struct.pack(">I", 2) + ip),
        (101, lambda ip: ip),
        (12, lambda ip: ip),
        (14, lambda ip: ip),
        (228, lambda ip: ip),
        (113, lambda ip: b"\x00\x00\x00\x01\x00\x06" + bytes(8) + b"\x08\x00" + ip),
        (276, lambda ip: b"\x08\x00\x00\x00" + bytes(16) + ip),
        (1, lambda ip: eth(ip, vlans=1)),
        (1, lambda ip: eth(ip, vlans=2)),  # QinQ
    ],
)
def test_link_types(linktype: int, wrap: object) -> None:
    frames = [(ts, wrap(_ip_of(frame))) for ts, frame in SIMPLE]  # type: ignore[operator]
    check_simple(read_all(io.BytesIO(pcap_bytes(frames, linktype))))


def test_raw_ipv6_link_type_229() -> None:
    ip = ipv6(17, "2001:db8::1", "2001:db8::2", udp(5060, 5060, INVITE))
    [packet] = read_all(io.BytesIO(pcap_bytes([(T0, ip)], 229)))
    assert packet.src == ("2001:db8::1", 5060) and packet.payload == INVITE


def test_unknown_link_type_is_skipped_and_counted() -> None:
    stats = CaptureStats()
    assert read_all(io.BytesIO(pcap_bytes([(T0, b"xx")], 147)), stats) == []
    assert stats.skipped == {"linktype_147": 1}


def test_ipv6_extension_headers_before_udp() -> None:
    hop = bytes([60, 0]) + bytes(6)  # hop-by-hop, next: destination options
    dest = bytes([17, 0]) + bytes(6)  # destination options, next: UDP
    ip = ipv6(0, "2001:db8::1", "2001:db8::2", hop + dest + udp(5060, 5060, INVITE))
    [packet] = read_all(io.BytesIO(pcap_bytes([(T0, eth(ip))])))
    assert packet.payload == INVITE


# --- classification -------------------------------------------------------------------------


def test_content_decides_not_port() -> None:
    rtp = bytes([0x80, 0x08]) + bytes(170)
    dns = b"\x12\x34\x01\x00\x00\x01" + bytes(20)
    frames = [
        (T0, udp_frame(INVITE, ("10.0.0.1", 40000), ("10.0.0.2", 40002))),  # SIP off 5060
        (T0 + 1, udp_frame(rtp)),  # RTP on 5060
        (T0 + 2, udp_frame(dns, ("10.0.0.1", 53), ("10.0.0.9", 53))),
        (T0 + 3, udp_frame(b"\r\n\r\n")),
        (T0 + 4, eth(ipv4(1, "10.0.0.1", "10.0.0.2", b"\x08\x00" + bytes(30)))),
        (T0 + 5, b"\xff" * 12 + b"\x08\x06" + bytes(28)),  # ARP
    ]
    stats = CaptureStats()
    [packet] = read_all(io.BytesIO(pcap_bytes(frames)), stats)
    assert packet.src == ("10.0.0.1", 40000)
    assert stats.skipped == {"rtp": 1, "non_sip": 1, "keepalive": 1, "icmp": 1, "non_ip": 1}
    assert stats.errors == {}


def test_hep_in_udp_is_unwrapped_with_hep_time_and_addresses() -> None:
    inner = Packet(
        T0 - 5_000_000, ("192.168.1.5", 5060), ("192.168.1.6", 5060), "tcp", INVITE, 7, b"corr"
    )
    frames = [
        (T0, udp_frame(encode_hep3(inner, capture_id=7), ("10.9.9.9", 40000), ("10.0.0.5", 9999))),
        (T0 + 1, udp_frame(b"HEP3\x00\x08gar", ("10.9.9.9", 40000), ("10.0.0.5", 9060))),
    ]
    stats = CaptureStats()
    [packet] = read_all(io.BytesIO(pcap_bytes(frames)), stats)
    assert packet == Packet(inner.ts, inner.src, inner.dst, "tcp", INVITE, 7, b"corr", 1)
    assert stats.errors == {"bad_hep": 1}


def test_hepv2_to_hep_port_is_unwrapped() -> None:
    head = struct.pack("!BBBBHH", 2, 16, 2, 17, 5060, 5062)
    addrs = socket.inet_aton("172.16.0.1") + socket.inet_aton("172.16.0.2")
    v2 = head + addrs + struct.pack("<IIH", 1_600_000_000, 5, 3) + b"\x00\x00" + INVITE
    frames = [(T0, udp_frame(v2, ("10.9.9.9", 40000), ("10.0.0.5", 9060)))]
    [packet] = read_all(io.BytesIO(pcap_bytes(frames)))
    assert packet.ts == 1_600_000_000_000_005 and packet.src == ("172.16.0.1", 5060)
    assert packet.capture_id == 3 and packet.payload == INVITE


# --- IP fragments ---------------------------------------------------------------------------


@pytest.mark.parametrize("v6", [False, True])
def test_writer_fragments_and_reader_reassembles(tmp_path: Path, v6: bool) -> None:
    src, dst = (("2001:db8::1", 5060), ("2001:db8::2", 5060)) if v6 else (A, B)
    big = sip("INVITE sip:x@y SIP/2.0", b"a=x\r\n" * 900)
    packets = [
        Packet(T0 + i * 1000, src, dst, "udp", body) for i, body in enumerate([big, RINGING, big])
    ]
    path = tmp_path / "frag.pcap"
    written = write_pcap(path, packets, mtu=576)
    assert written > 10  # both big messages are fragmented
    stats = CaptureStats()
    got = read_all(path, stats)
    assert [p.payload for p in got] == [big, RINGING, big]
    assert [p.ts for p in got] == [T0, T0 + 1000, T0 + 2000]
    assert stats.frames == written
    frames_of_big = (written - 1) // 2  # two equal big messages around one small one
    assert got[0].frame == frames_of_big and got[1].frame == frames_of_big + 1
    assert stats.errors == {}


def test_fragments_out_of_order_time_of_first_and_frame_of_last() -> None:
    payload = udp(5060, 5062, INVITE)
    cut = 64
    first = ipv4(17, *("10.0.0.1", "10.0.0.2"), payload[:cut], ident=9, frag=0x2000)
    last = ipv4(17, *("10.0.0.1", "10.0.0.2"), payload[cut:], ident=9, frag=cut // 8)
    other = ipv4(17, *("10.0.0.3", "10.0.0.2"), payload[cut:], ident=9, frag=cut // 8)
    frames = [(T0, eth(last)), (T0 + 5, eth(other)), (T0 + 7, eth(first))]
    [packet] = read_all(io.BytesIO(pcap_bytes(frames)))
    assert (packet.ts, packet.frame, packet.payload) == (T0, 3, INVITE)


def test_fragments_time_out_by_capture_time() -> None:
    payload = udp(5060, 5062, INVITE)
    first = ipv4(17, "10.0.0.1", "10.0.0.2", payload[:64], ident=9, frag=0x2000)
    last = ipv4(17, "10.0.0.1", "10.0.0.2", payload[64:], ident=9, frag=8)
    stats = CaptureStats()
    frames = [(T0, eth(first)), (T0 + 31_000_000, eth(last))]
    assert read_all(io.BytesIO(pcap_bytes(frames)), stats) == []
    assert stats.errors == {"frag_timeout": 1}


# --- TCP ------------------------------------------------------------------------------------


def test_tcp_two_messages_in_one_segment_and_one_over_three() -> None:
    isn = 1000
    stream = INVITE + BYE
    seg = [OK[:50], OK[50:120], OK[120:]]
    frames = [
        (T0, tcp_frame(isn, flags=0x02)),
        (T0 + 1, tcp_frame(isn + 1, stream)),
        (T0 + 2, tcp_frame(5000, seg[0], back=True)),
        (T0 + 3, tcp_frame(5000 + 50, seg[1], back=True)),
        (T0 + 4, tcp_frame(5000 + 120, seg[2], back=True)),
    ]
    packets = read_all(io.BytesIO(pcap_bytes(frames)))
    assert [p.payload for p in packets] == [INVITE, BYE, OK]
    assert [(p.ts, p.frame) for p in packets] == [(T0 + 1, 2), (T0 + 1, 2), (T0 + 2, 5)]
    assert packets[2].src == B and {p.transport for p in packets} == {"tcp"}


def test_tcp_retransmission_and_out_of_order() -> None:
    a, b, c = INVITE[:100], INVITE[100:], RINGING
    frames = [
        (T0, tcp_frame(1, a)),
        (T0 + 1, tcp_frame(1 + len(INVITE), c)),  # arrives before the gap is filled
        (T0 + 2, tcp_frame(1, a)),  # retransmission
        (T0 + 3, tcp_frame(1 + 100, b)),
        (T0 + 4, tcp_frame(1 + 100, b + c[:10])),  # overlapping retransmission
    ]
    stats = CaptureStats()
    packets = read_all(io.BytesIO(pcap_bytes(frames)), stats)
    assert [p.payload for p in packets] == [INVITE, RINGING]
    assert [(p.ts, p.frame) for p in packets] == [(T0, 4), (T0 + 1, 4)]
    assert stats.skipped.get("tcp_retransmission") == 2


def test_tcp_sequence_wraps() -> None:
    start = 0xFFFFFFFF - 40
    frames = [
        (T0, tcp_frame(start, INVITE[:100])),
        (T0 + 1, tcp_frame((start + 100) & 0xFFFFFFFF, INVITE[100:])),
    ]
    assert [p.payload for p in read_all(io.BytesIO(pcap_bytes(frames)))] == [INVITE]


def test_tcp_lower_case_and_compact_length_headers() -> None:
    lower = sip("MESSAGE sip:a@b SIP/2.0", b"hello", length_header="content-length")
    frames = [(T0, tcp_frame(1, lower + BYE + b"\r\n\r\n" + RINGING))]
    packets = read_all(io.BytesIO(pcap_bytes(frames)))
    assert [p.payload for p in packets] == [lower, BYE, RINGING]


def test_tcp_stream_joined_mid_message_resyncs_at_next_segment() -> None:
    frames = [(T0, tcp_frame(1, INVITE[40:])), (T0 + 1, tcp_frame(1 + len(INVITE) - 40, BYE))]
    stats = CaptureStats()
    assert [p.payload for p in read_all(io.BytesIO(pcap_bytes(frames)), stats)] == [BYE]
    assert stats.skipped["tcp_non_sip"] == 1


def test_tcp_gap_that_never_fills_is_given_up() -> None:
    frames = [(T0, tcp_frame(1, INVITE[:100]))]
    seq = 1 + len(INVITE)
    for i in range(70):  # more than the reorder window, all after a hole
        frames.append((T0 + 1 + i, tcp_frame(seq, RINGING)))
        seq += len(RINGING)
    stats = CaptureStats()
    packets = read_all(io.BytesIO(pcap_bytes(frames)), stats)
    assert stats.errors["tcp_gap"] == 1
    assert len(packets) == 70 and {p.payload for p in packets} == {RINGING}


# --- WebSocket ------------------------------------------------------------------------------


def ws_frame(payload: bytes, *, mask: bytes | None, opcode: int = 1, fin: bool = True) -> bytes:
    n = len(payload)
    head = bytes([(0x80 if fin else 0) | opcode])
    bit = 0x80 if mask else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", n)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", n)
    if mask:
        payload = bytes(c ^ mask[i % 4] for i, c in enumerate(payload))
        head += mask
    return head + payload


def test_sip_over_websocket() -> None:
    upgrade = (
        b"GET / HTTP/1.1\r\nHost: pbx\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Protocol: sip\r\n\r\n"
    )
    answer = (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
        b"Sec-WebSocket-Protocol: sip\r\n\r\n"
    )
    mask = b"\x11\x22\x33\x44"
    client = upgrade + ws_frame(INVITE, mask=mask) + ws_frame(b"", mask=mask, opcode=9)
    client += ws_frame(BYE[:30], mask=mask, opcode=1, fin=False)
    client += ws_frame(BYE[30:], mask=mask, opcode=0)
    server = answer + ws_frame(OK, mask=None, opcode=2)
    frames = [
        (T0, tcp_frame(1, client[:200])),
        (T0 + 1, tcp_frame(201, client[200:])),
        (T0 + 2, tcp_frame(1, server[:90], back=True)),
        (T0 + 3, tcp_frame(91, server[90:], back=True)),
    ]
    packets = read_all(io.BytesIO(pcap_bytes(frames)))
    assert [(p.payload, p.transport) for p in packets] == [(INVITE, "ws"), (BYE, "ws"), (OK, "ws")]
    assert [(p.ts, p.frame) for p in packets] == [(T0, 2), (T0 + 1, 2), (T0 + 2, 4)]


# --- bad files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "shown"),
    [(b"HEP3\x00\x10abcdefgh", "48 45 50 33"), (b"", "empty"), (b"\x00\x01", "00 01")],
)
def test_not_a_capture(tmp_path: Path, data: bytes, shown: str) -> None:
    path = tmp_path / "notes.txt"
    path.write_bytes(data)
    with pytest.raises(
        PcapError,
        match=rf"{path} is not a pcap or pcapng capture \(starts with "
        rf".*{shown}",
    ):
        read_capture(path)


def test_missing_file_is_a_pcap_error(tmp_path: Path) -> None:
    with pytest.raises(PcapError, match="cannot open"):
        read_capture(tmp_path / "none.pcap")


def test_truncated_tail_keeps_good_packets_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    data = pcap_bytes(SIMPLE)
    stats = CaptureStats()
    with caplog.at_level(logging.WARNING):
        packets = read_all(io.BytesIO(data[:-30]), stats)
    assert [p.payload for p in packets] == [INVITE, RINGING]
    assert stats.errors == {"truncated_file": 1}
    [record] = [r for r in caplog.records if "truncated_file" in r.getMessage()]
    assert "frame 3" in record.getMessage()


def test_truncated_pcapng_tail() -> None:
    data = pcapng_bytes(SIMPLE)
    stats = CaptureStats()
    packets = read_all(io.BytesIO(data[:-10]), stats)
    assert [p.payload for p in packets] == [INVITE, RINGING]
    assert stats.errors == {"truncated_file": 1}


def test_broken_frames_are_counted_and_reading_goes_on() -> None:
    frames = [
        (T0, udp_frame(INVITE)[:20]),  # cut inside the IP header
        (T0 + 1, eth(b"\x45\x00\x00\x0a" + bytes(30))),  # total length 10 < header
        (T0 + 2, udp_frame(RINGING)),
    ]
    stats = CaptureStats()
    assert [p.payload for p in read_all(io.BytesIO(pcap_bytes(frames)), stats)] == [RINGING]
    assert stats.errors == {"truncated_frame": 1, "bad_ip_header": 1}


# --- tshark ---------------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("editcap") is None, reason="editcap (tshark) not installed")
def test_editcap_pcapng_reads_identically(tmp_path: Path) -> None:
    big = sip("INVITE sip:x@y SIP/2.0", b"a=x\r\n" * 500)
    packets = [Packet(T0 + i, A, B, "udp", body) for i, body in enumerate([INVITE, big, OK])]
    pcap = tmp_path / "a.pcap"
    write_pcap(pcap, packets, mtu=1000)
    ng = tmp_path / "a.pcapng"
    subprocess.run(["editcap", "-F", "pcapng", str(pcap), str(ng)], check=True, capture_output=True)
    assert ng.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
    assert read_all(ng) == read_all(pcap)
    assert [p.payload for p in read_all(ng)] == [INVITE, big, OK]


# --- public real-world captures -------------------------------------------------------------


def truth(name: str) -> dict:
    return json.loads((PUBLIC / f"{name}.json").read_text())


def first_line(packet: Packet) -> str:
    return packet.payload.split(b"\r\n", 1)[0].decode()


def by_frame(name: str) -> dict[int, Packet]:
    return {p.frame: p for p in read_all(PUBLIC / f"{name}.pcap")}


@needs_public
def test_public_tcp_call_times() -> None:
    name = "heplify_sip_ipv4_tcp"
    packets = by_frame(name)
    assert all(p.transport == "tcp" for p in packets.values())
    events = truth(name)["calls"][0]["events"]
    expect = {
        "invite": "INVITE",
        "first_ring": "SIP/2.0 180",
        "answer": "SIP/2.0 200",
        "bye": "BYE",
    }
    for key, start in expect.items():
        event = events[key]
        packet = packets[event["frame"]]
        assert first_line(packet).startswith(start)
        assert packet.ts == round(event["time"] * 1_000_000)
        assert packet.src[0] == event["sent_by"]
    assert len(packets) == 7  # INVITE 100 180 200 ACK BYE 200


@needs_public
def test_public_udp_capture_with_rtp_noise() -> None:
    name = "heplify_rtp_rtcp_sip_ipv4_udp"
    stats = CaptureStats()
    packets = read_all(PUBLIC / f"{name}.pcap", stats)
    assert len(packets) == 14  # tshark -Y sip counts 14
    assert stats.frames == 4269 and stats.errors == {}
    assert stats.skipped["rtp"] > 2000
    frames = {p.frame: p for p in packets}
    for call in truth(name)["calls"]:
        for event in call["events"].values():
            if event:
                assert frames[event["frame"]].ts == round(event["time"] * 1_000_000)


@needs_public
def test_public_websocket_capture() -> None:
    name = "heplify_sip_tcp_websocket"
    packets = by_frame(name)
    ws = [p for p in packets.values() if p.transport == "ws"]
    udp_legs = [p for p in packets.values() if p.transport == "udp"]
    assert len(ws) == 11 and len(udp_legs) == 28  # tshark: 11 SIP in WS frames, 28 in UDP
    invites = [p for p in ws if first_line(p).startswith("INVITE")]
    assert [p.frame for p in invites] == [11, 18]
    assert {p.src for p in invites} == {("10.243.17.55", 43380)}
    events = truth(name)["calls"][0]["events"]
    # single-frame messages: exactly the annotated time
    for key in (
        "challenge",
        "first_ring",
        "b_leg_invite",
        "b_leg_answer",
        "answer",
        "bye",
        "b_leg_bye",
    ):
        assert packets[events[key]["frame"]].ts == round(events[key]["time"] * 1_000_000), key
    # the two INVITEs span two TCP segments (frames 10+11, 16+18): ts is the first segment's
    # (tshark frame.time_epoch of frames 10 and 16), the annotation gives the completing frame's
    assert packets[11].ts == 1542051165605090
    assert packets[18].ts == 1542051165661791
    assert round(events["invite"]["time"] * 1_000_000) - packets[18].ts == 33


@needs_public
def test_public_ipv6_fragments() -> None:
    name = "sngrep_ipv6frag"
    stats = CaptureStats()
    packets = {p.frame: p for p in read_all(PUBLIC / f"{name}.pcap", stats)}
    assert stats.frames == 34 and stats.errors == {} and len(packets) == 32
    events = truth(name)["calls"][0]["events"]
    invite = packets[events["invite"]["frame"]]
    assert first_line(invite).startswith("INVITE") and len(invite.payload) == 1691
    # frame 1 (first fragment, tshark time 1647926426.047902) starts the INVITE that frame 2
    # completes; the annotation's time is frame 2's, 10 µs later
    assert invite.ts == 1647926426047902
    assert round(events["invite"]["time"] * 1_000_000) - invite.ts == 10
    for key in ("first_ring", "answer", "answer_forwarded_to_caller", "bye"):
        packet = packets[events[key]["frame"]]
        assert packet.ts == round(events[key]["time"] * 1_000_000)
        assert packet.src[0] == events[key]["sent_by"]
    assert first_line(packets[events["first_ring"]["frame"]]).startswith("SIP/2.0 183")


@needs_public
def test_public_aaa_reads_without_errors() -> None:
    stats = CaptureStats()
    packets = read_all(PUBLIC / "sngrep_aaa.pcap", stats)
    assert stats.errors == {} and stats.frames == 691
    frames = {p.frame for p in packets}
    for call in truth("sngrep_aaa")["calls"]:
        for event in call["events"].values():
            if event:
                assert event["frame"] in frames


@needs_public
@pytest.mark.skipif(shutil.which("tshark") is None, reason="tshark not installed")
def test_public_sip_counts_match_tshark() -> None:
    env = {**os.environ, "LC_ALL": "C"}
    for path in sorted(PUBLIC.glob("*.pcap")):
        out = subprocess.run(
            ["tshark", "-r", str(path), "-Y", "sip", "-T", "fields", "-e", "frame.number"],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
        expected = [int(x) for x in out.split()]
        assert [p.frame for p in read_all(path)] == expected, path.name
