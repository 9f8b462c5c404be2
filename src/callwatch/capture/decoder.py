"""One captured frame in, the SIP packets it completes out: link layer, IP, UDP and TCP.

Link types: Ethernet (1, with 802.1Q/802.1ad/QinQ tags), BSD loopback/null (0), raw IP (101,
and 12/14 as some systems number it), Linux cooked capture v1 (113) and v2 (276), raw IPv4
(228) and IPv6 (229). IPv4 and IPv6 (extension headers walked; fragments reassembled by
:class:`~callwatch.capture.reassembly.IpFragments`). UDP payloads are SIP when their first line
says so; a UDP payload that is HEP3 (magic ``HEP3``), or HEPv1/v2 sent to the HEP port, is
unwrapped and its SIP taken with the HEP timestamp and addresses. TCP goes to
:class:`~callwatch.capture.streams.TcpStreams`.
"""

from __future__ import annotations

import logging
import struct
from typing import Final

from callwatch.capture.framing import is_sip
from callwatch.capture.hep import HEP_PORT, HepTooLarge, decode_hep, hep_to_packet
from callwatch.capture.packet import HepError, Packet, address_text
from callwatch.capture.reassembly import IpFragments
from callwatch.capture.stats import CaptureStats
from callwatch.capture.streams import TcpStreams

log = logging.getLogger(__name__)

_ETH_IPV4: Final = 0x0800
_ETH_IPV6: Final = 0x86DD
_ETH_VLAN: Final = (0x8100, 0x88A8, 0x9100, 0x9200)

_U16: Final = struct.Struct("!H")
_U32: Final = struct.Struct("!I")
_U32_LE: Final = struct.Struct("<I")
_IPV4: Final = struct.Struct("!BxHHHxB")  # ver/ihl, total length, id, flags/offset, protocol
_IPV6: Final = struct.Struct("!HB")  # payload length, next header (at offset 4)
_UDP: Final = struct.Struct("!HHH")
_TCP: Final = struct.Struct("!HHI4xBB")  # ports, seq, (ack skipped to) data offset, flags
# from an option-less IPv4 header's total length on: total length, flags/offset, protocol,
# source, destination, then the UDP header's ports and length
_IPV4_UDP: Final = struct.Struct("!H2xHxB2x4s4sHHH")
_RAW_IP: Final = (101, 12, 14, 228, 229)

_IPV6_EXT: Final = {0, 43, 60}  # hop-by-hop, routing, destination options: (n + 1) * 8 bytes
_IPV6_AH: Final = 51
_IPV6_FRAG: Final = 44
_PROTO_NAMES: Final = {1: "icmp", 2: "igmp", 47: "gre", 50: "esp", 58: "icmpv6", 132: "sctp"}


class FrameDecoder:
    """Turns frames into SIP packets, counting the rest into ``stats``.

    ``source`` names the capture in log lines; each kind of error is logged once, with the
    frame where it was first seen.
    """

    def __init__(self, stats: CaptureStats, source: str = "capture") -> None:
        self.stats = stats
        self.source = source
        self._logged: set[str] = set()
        self._frame = 0
        self._frags = IpFragments(self.error)
        self._tcp = TcpStreams(stats.skip, self.error)

    def error(self, kind: str, detail: str = "", frame: int | None = None) -> None:
        """Count one error of ``kind``; log the first of each kind with file and frame."""
        if frame is not None:
            self._frame = frame
        self.stats.error(kind)
        if kind not in self._logged:
            self._logged.add(kind)
            extra = f": {detail}" if detail else ""
            log.warning(
                "%s frame %d: %s%s (further ones counted only)",
                self.source,
                self._frame,
                kind,
                extra,
            )

    def decode(self, linktype: int, data: bytes, ts: int, frame: int, out: list[Packet]) -> None:
        """Decode one frame of link type ``linktype``, appending finished SIP packets to ``out``."""
        self._frame = frame
        n = len(data)
        # The fast path: an IPv4 datagram with no options, not a fragment, carrying UDP, right
        # after an untagged Ethernet header, a Linux cooked header or nothing. What it does not
        # take (or finds not to fit) goes the general way below, which decides the same.
        if linktype == 1:
            off = 14 if n >= 42 and data[12] == 8 and data[13] == 0 else -1
        elif linktype == 113:
            off = 16 if n >= 44 and data[14] == 8 and data[15] == 0 else -1
        elif linktype == 276:
            off = 20 if n >= 48 and data[0] == 8 and data[1] == 0 else -1
        else:
            off = 0 if linktype in _RAW_IP else -1
        if off >= 0 and n - off >= 28 and data[off] == 0x45:
            total: int  # declared, so that compiled code checks them once and keeps them native
            frag: int
            proto: int
            length: int
            total, frag, proto, src, dst, sport, dport, length = _IPV4_UDP.unpack_from(
                data, off + 2
            )
            if proto == 17 and not frag & 0x3FFF and 28 <= total <= n - off:
                start = off + 28
                end = off + total
                if 8 <= length <= total - 20:
                    end = start - 8 + length
                self._udp(data[start:end], src, sport, dst, dport, ts, frame, out)
                return
        if linktype == 1:
            if n < 14:
                self.error("truncated_frame", "shorter than an Ethernet header")
                return
            etype = data[12] << 8 | data[13]
            off = 14
            while etype in _ETH_VLAN:
                if n < off + 4:
                    self.error("truncated_frame", "inside a VLAN tag")
                    return
                etype = data[off + 2] << 8 | data[off + 3]
                off += 4
        elif linktype == 113:
            if n < 16:
                self.error("truncated_frame", "shorter than a Linux cooked header")
                return
            etype = data[14] << 8 | data[15]
            off = 16
        elif linktype == 276:
            if n < 20:
                self.error("truncated_frame", "shorter than a Linux cooked v2 header")
                return
            etype = data[0] << 8 | data[1]
            off = 20
        elif linktype == 0:
            if n < 4:
                self.error("truncated_frame", "shorter than a loopback header")
                return
            family = _U32_LE.unpack_from(data)[0]
            if family > 0xFFFF:
                family = _U32.unpack_from(data)[0]
            etype = _ETH_IPV4 if family == 2 else _ETH_IPV6 if family in (10, 24, 28, 30) else 0
            off = 4
        elif linktype in (101, 12, 14, 228, 229):
            if not n:
                self.error("truncated_frame", "empty frame")
                return
            version = data[0] >> 4
            etype = _ETH_IPV4 if version == 4 else _ETH_IPV6 if version == 6 else 0
            off = 0
        else:
            self.stats.skip(f"linktype_{linktype}")
            return
        if etype == _ETH_IPV4:
            self._ipv4(data, off, ts, frame, out)
        elif etype == _ETH_IPV6:
            self._ipv6(data, off, ts, frame, out)
        else:
            self.stats.skip("non_ip")

    def _ipv4(self, data: bytes, off: int, ts: int, frame: int, out: list[Packet]) -> None:
        end = len(data)
        if end - off < 20:
            self.error("truncated_frame", "shorter than an IPv4 header")
            return
        vihl, total, ident, frag, proto = _IPV4.unpack_from(data, off)
        ihl = (vihl & 0x0F) * 4
        if total == 0:  # segmentation offload on the capturing host: the frame tells the size
            total = end - off
        if vihl >> 4 != 4 or ihl < 20 or total < ihl:
            self.error("bad_ip_header", f"IPv4 version/length byte 0x{vihl:02x}, total {total}")
            return
        if off + total > end:
            self.error("truncated_frame", "IPv4 datagram longer than the captured frame")
            return
        end = off + total
        src = data[off + 12 : off + 16]
        dst = data[off + 16 : off + 20]
        start = off + ihl
        if frag & 0x3FFF:  # more fragments, or an offset
            whole = self._frags.add(
                (src, dst, proto, ident),
                (frag & 0x1FFF) * 8,
                bool(frag & 0x2000),
                data[start:end],
                ts,
            )
            if whole is None:
                return
            data, ts, _ = whole
            start, end = 0, len(data)
        self._transport(proto, src, dst, data, start, end, ts, frame, out)

    def _ipv6(self, data: bytes, off: int, ts: int, frame: int, out: list[Packet]) -> None:
        end = len(data)
        if end - off < 40:
            self.error("truncated_frame", "shorter than an IPv6 header")
            return
        if data[off] >> 4 != 6:
            self.error("bad_ip_header", f"IPv6 version nibble {data[off] >> 4}")
            return
        plen, nh = _IPV6.unpack_from(data, off + 4)
        src = data[off + 8 : off + 24]
        dst = data[off + 24 : off + 40]
        pos = off + 40
        if plen:
            if pos + plen > end:
                self.error("truncated_frame", "IPv6 payload longer than the captured frame")
                return
            end = pos + plen
        reassembled = False
        while True:
            if nh in _IPV6_EXT or nh == _IPV6_AH:
                if end - pos < 8:
                    self.error("bad_ip_header", f"IPv6 extension header {nh} truncated")
                    return
                size = (data[pos + 1] + 1) * 8 if nh != _IPV6_AH else (data[pos + 1] + 2) * 4
                nh = data[pos]
                pos += size
                if pos > end:
                    self.error("bad_ip_header", "IPv6 extension header past the payload")
                    return
            elif nh == _IPV6_FRAG and not reassembled:
                if end - pos < 8:
                    self.error("bad_ip_header", "IPv6 fragment header truncated")
                    return
                nxt = data[pos]
                offset_flags = _U16.unpack_from(data, pos + 2)[0]
                ident = _U32.unpack_from(data, pos + 4)[0]
                pos += 8
                if offset_flags & 0xFFF9:  # a real fragment, not an atomic one
                    whole = self._frags.add(
                        (src, dst, ident),
                        offset_flags & 0xFFF8,
                        bool(offset_flags & 1),
                        data[pos:end],
                        ts,
                        nxt,
                    )
                    if whole is None:
                        return
                    data, ts, nxt = whole
                    pos, end = 0, len(data)
                nh = nxt
                reassembled = True
            else:
                break
        self._transport(nh, src, dst, data, pos, end, ts, frame, out)

    def _transport(
        self,
        proto: int,
        src: bytes,
        dst: bytes,
        data: bytes,
        off: int,
        end: int,
        ts: int,
        frame: int,
        out: list[Packet],
    ) -> None:
        if proto == 17:
            if end - off < 8:
                self.error("truncated_frame", "shorter than a UDP header")
                return
            sport, dport, length = _UDP.unpack_from(data, off)
            if 8 <= length <= end - off:
                end = off + length
            self._udp(data[off + 8 : end], src, sport, dst, dport, ts, frame, out)
        elif proto == 6:
            if end - off < 20:
                self.error("truncated_frame", "shorter than a TCP header")
                return
            sport, dport, seq, doff, flags = _TCP.unpack_from(data, off)
            head = (doff >> 4) * 4
            if head < 20 or off + head > end:
                self.error("bad_tcp_header", f"TCP data offset {head}")
                return
            payload = data[off + head : end]
            if not payload and not flags & 0x07:
                self.stats.skip("tcp_no_payload")
                return
            self._tcp.segment(
                (src, sport, dst, dport),
                (address_text(src), sport),
                (address_text(dst), dport),
                seq,
                flags,
                payload,
                ts,
                frame,
                out,
            )
        else:
            self.stats.skip(_PROTO_NAMES.get(proto, "non_udp_tcp"))

    def _udp(
        self,
        payload: bytes,
        src: bytes,
        sport: int,
        dst: bytes,
        dport: int,
        ts: int,
        frame: int,
        out: list[Packet],
    ) -> None:
        if is_sip(payload):
            out.append(
                Packet(
                    ts,
                    (address_text(src), sport),
                    (address_text(dst), dport),
                    "udp",
                    payload,
                    None,
                    None,
                    frame,
                )
            )
            return
        if payload[:4] == b"HEP3" or (
            payload[:1] in (b"\x01", b"\x02") and HEP_PORT in (dport, sport)
        ):
            self._hep(payload, frame, out)
            return
        self.stats.skip(_kind_of(payload))

    def _hep(self, payload: bytes, frame: int, out: list[Packet]) -> None:
        try:
            msg = decode_hep(payload)
            if not msg.is_sip:
                self.stats.skip("hep_non_sip")
                return
            packet = hep_to_packet(msg, frame=frame)
        except HepTooLarge as exc:
            self.error("hep_too_large", str(exc))
            return
        except HepError as exc:
            self.error("bad_hep", str(exc))
            return
        if is_sip(packet.payload):
            out.append(packet)
        else:
            self.stats.skip("hep_non_sip")


def _kind_of(payload: bytes) -> str:
    """Name the kind of a non-SIP UDP payload for the skip counters."""
    if not payload.strip(b"\r\n\x00"):
        return "keepalive"
    if len(payload) >= 8 and payload[0] >> 6 == 2:
        return "rtcp" if 200 <= payload[1] <= 207 else "rtp"
    return "non_sip"
