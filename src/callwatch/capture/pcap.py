"""Reading pcap and pcapng capture files into SIP :class:`Packet` objects.

pcap: both byte orders, microsecond (``a1b2c3d4``) and nanosecond (``a1b23c4d``) magic.
pcapng: section header blocks of either byte order (several sections allowed), interface
description blocks with ``if_tsresol`` and ``if_tsoffset``, enhanced, simple and (obsolete)
packet blocks; other blocks are skipped. Frames are numbered from 1 in file order, as Wireshark
numbers them.

A file that is not a capture at all raises :class:`PcapError`. A file cut short (the usual end
of a capture that was still being written) is read up to the cut: the cut is counted as
``truncated_file`` and logged once, and everything before it is yielded.

A pcapng packet whose time, after its interface's ``if_tsresol`` and ``if_tsoffset``, falls
outside 1970-01-01 to 9999-12-31 (a broken or hostile resolution, offset or timestamp) is
counted as ``bad_timestamp``, logged once and skipped; the frames after it are read.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from typing import BinaryIO, Final

from callwatch.capture.decoder import FrameDecoder
from callwatch.capture.packet import Packet, PcapError
from callwatch.capture.stats import CaptureStats

__all__ = ["CaptureStats", "read_capture"]

_PCAP_MAGIC: Final = {
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}
_PCAPNG_SHB: Final = b"\x0a\x0d\x0d\x0a"
_BOM: Final = {b"\x4d\x3c\x2b\x1a": "<", b"\x1a\x2b\x3c\x4d": ">"}

_MAX_TS: Final = 253_402_300_799_999_999
"""The last capture microsecond a time can name (9999-12-31T23:59:59.999999Z)."""

_MAX_RECORD: Final = 1 << 24
"""Largest frame or block accepted (16 MiB): anything bigger is a corrupt length."""

_BLOCK_IDB: Final = 1
_BLOCK_OPB: Final = 2
_BLOCK_SPB: Final = 3
_BLOCK_EPB: Final = 6

Source = str | os.PathLike[str] | BinaryIO


def read_capture(source: Source, stats: CaptureStats | None = None) -> Iterator[Packet]:
    """Yield the SIP packets of a pcap or pcapng file (a path or a binary file object).

    The format is told by the file's first bytes, which are checked before this returns:
    a file that is not a capture raises :class:`PcapError`
    (``"FILE is not a pcap or pcapng capture (starts with ...)"``). Counters go to ``stats``.
    """
    stats = stats if stats is not None else CaptureStats()
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        try:
            f: BinaryIO = open(name, "rb", buffering=1 << 18)  # noqa: SIM115 - closed by the generator
        except OSError as exc:
            raise PcapError(f"cannot open {name}: {exc.strerror}") from None
        owned = True
    else:
        f, name, owned = source, str(getattr(source, "name", "<stream>")), False
    try:
        magic = f.read(4)
        if magic in _PCAP_MAGIC:
            records = _pcap_body(f, *_pcap_header(f, magic, name))
        elif magic == _PCAPNG_SHB:
            records = _pcapng_records(f, name)
        else:
            shown = magic.hex(" ") if magic else "nothing: the file is empty"
            raise PcapError(f"{name} is not a pcap or pcapng capture (starts with {shown})")
    except BaseException:
        if owned:
            f.close()
        raise
    return _packets(records, f if owned else None, name, stats)


def _packets(
    records: Iterator[tuple[int, int, bytes]],
    owned: BinaryIO | None,
    name: str,
    stats: CaptureStats,
) -> Iterator[Packet]:
    decoder = FrameDecoder(stats, name)
    decode = decoder.decode
    out: list[Packet] = []
    frame = 0
    try:
        for linktype, ts, data in records:
            frame += 1
            stats.frames += 1
            stats.bytes += len(data)
            if linktype < 0:
                decoder.error(*_RECORD_ERRORS[linktype], frame)
                continue
            decode(linktype, data, ts, frame, out)
            if out:
                stats.packets += len(out)
                yield from out
                out.clear()
    except _Truncated as cut:
        decoder.error(cut.kind, str(cut), frame + 1)
    finally:
        if owned is not None:
            owned.close()


class _Truncated(Exception):
    """Internal: the file ends or breaks inside a record; ``kind`` names the counter."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


# negative link types mark records that are counted as errors but do not stop reading
_BAD_INTERFACE: Final = -1
_BAD_TIMESTAMP: Final = -2
_RECORD_ERRORS: Final = {
    _BAD_INTERFACE: ("bad_interface", ""),
    _BAD_TIMESTAMP: ("bad_timestamp", "time outside 1970 to 9999 (if_tsresol, if_tsoffset)"),
}


def _read_exact(f: BinaryIO, n: int, what: str) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise _Truncated("truncated_file", f"file ends inside {what}")
    return data


def _pcap_header(f: BinaryIO, magic: bytes, name: str) -> tuple[struct.Struct, int, bool]:
    """Read the rest of a pcap file header: the record header's layout, link type, nanos."""
    order, nano = _PCAP_MAGIC[magic]
    head = f.read(20)
    if len(head) != 20:
        raise PcapError(f"{name}: pcap file header is truncated ({4 + len(head)} of 24 bytes)")
    linktype = struct.unpack(order + "HHiIII", head)[5] & 0xFFFF
    return struct.Struct(order + "IIII"), linktype, nano


def _pcap_body(
    f: BinaryIO, record: struct.Struct, linktype: int, nano: bool
) -> Iterator[tuple[int, int, bytes]]:
    read = f.read
    unpack = record.unpack
    sec: int  # declared, so that compiled code keeps the unpacked fields native
    frac: int
    caplen: int
    while True:
        head = read(16)
        if len(head) != 16:
            if head:
                raise _Truncated("truncated_file", "file ends inside a record header")
            return
        sec, frac, caplen, _ = unpack(head)
        if caplen > _MAX_RECORD:
            raise _Truncated("bad_record", f"record length {caplen} is not believable")
        data = read(caplen)
        if len(data) != caplen:
            raise _Truncated("truncated_file", "file ends inside a frame")
        yield linktype, sec * 1_000_000 + (frac // 1000 if nano else frac), data


class _Interface:
    __slots__ = ("linktype", "mul", "offset_us", "per_second", "snaplen")

    def __init__(self, linktype: int, snaplen: int) -> None:
        self.linktype = linktype
        self.snaplen = snaplen
        self.per_second = 1_000_000
        self.offset_us = 0

    def micros(self, units: int) -> int:
        per = self.per_second
        if per == 1_000_000:
            return units + self.offset_us
        return units * 1_000_000 // per + self.offset_us


def _pcapng_records(f: BinaryIO, name: str) -> Iterator[tuple[int, int, bytes]]:
    rest = f.read(8)
    if len(rest) != 8 or rest[4:8] not in _BOM:
        raise PcapError(f"{name}: pcapng section header is truncated or has no byte-order magic")
    return _pcapng_body(f, rest)


def _pcapng_body(f: BinaryIO, first: bytes) -> Iterator[tuple[int, int, bytes]]:
    read = f.read
    order = _BOM[first[4:8]]
    interfaces: list[_Interface] = []
    last_ts = 0
    _new_section(f, first, interfaces)
    u32 = struct.Struct(order + "I")
    u32x2 = struct.Struct(order + "II")
    epb = struct.Struct(order + "IIIII")
    opb = struct.Struct(order + "HHIIII")
    kind: int  # declared, so that compiled code keeps the unpacked fields native
    total: int
    iface: int
    caplen: int
    ts: int
    while True:
        head = read(8)
        if len(head) != 8:
            if head:
                raise _Truncated("truncated_file", "file ends inside a block header")
            return
        if head[:4] == _PCAPNG_SHB:
            rest = head[4:] + _read_exact(f, 4, "a section header")
            if rest[4:8] not in _BOM:
                raise _Truncated("bad_block", "section header without byte-order magic")
            order = _BOM[rest[4:8]]
            u32 = struct.Struct(order + "I")
            u32x2 = struct.Struct(order + "II")
            epb = struct.Struct(order + "IIIII")
            opb = struct.Struct(order + "HHIIII")
            _new_section(f, rest, interfaces)
            continue
        kind, total = u32x2.unpack(head)
        if total < 12 or total % 4 or total > _MAX_RECORD:
            raise _Truncated("bad_block", f"block length {total} is not valid")
        body = read(total - 8)
        if len(body) != total - 8:
            raise _Truncated("truncated_file", "file ends inside a block")
        size = total - 12  # the block's fields, without its trailing length
        if u32.unpack_from(body, size)[0] != total:
            raise _Truncated("bad_block", "block's trailing length does not match its header")
        if kind in (_BLOCK_EPB, _BLOCK_OPB):
            if size < 20:
                raise _Truncated("bad_block", "packet block shorter than its fields")
            if kind == _BLOCK_EPB:
                iface, high, low, caplen, _ = epb.unpack_from(body)
            else:
                iface, _, high, low, caplen, _ = opb.unpack_from(body)
            if caplen > size - 20:
                raise _Truncated("bad_block", "packet block's captured length exceeds the block")
            if iface >= len(interfaces):
                yield _BAD_INTERFACE, last_ts, b""
                continue
            itf = interfaces[iface]
            ts = itf.micros(high << 32 | low)
            if not 0 <= ts <= _MAX_TS:
                yield _BAD_TIMESTAMP, last_ts, b""
                continue
            last_ts = ts
            yield itf.linktype, last_ts, body[20 : 20 + caplen]
        elif kind == _BLOCK_SPB:
            if size < 4 or not interfaces:
                yield _BAD_INTERFACE, last_ts, b""
                continue
            origlen = u32.unpack_from(body)[0]
            itf = interfaces[0]
            caplen = min(origlen, size - 4)
            if itf.snaplen:
                caplen = min(caplen, itf.snaplen)
            # a simple packet block has no timestamp: it takes the previous packet's
            yield itf.linktype, last_ts, body[4 : 4 + caplen]
        elif kind == _BLOCK_IDB:
            if size < 8:
                raise _Truncated("bad_block", "interface description block too short")
            linktype, _, snaplen = struct.unpack_from(order + "HHI", body)
            itf = _Interface(linktype, snaplen)
            _interface_options(itf, body[:size], order)
            interfaces.append(itf)


def _new_section(f: BinaryIO, rest: bytes, interfaces: list[_Interface]) -> None:
    """Read the rest of a section header block whose length and magic are in ``rest``."""
    order = _BOM[rest[4:8]]
    total = struct.unpack_from(order + "I", rest)[0]
    if total < 28 or total % 4 or total > _MAX_RECORD:
        raise _Truncated("bad_block", f"section header length {total} is not valid")
    _read_exact(f, total - 12, "a section header")
    interfaces.clear()


def _interface_options(itf: _Interface, body: bytes, order: str) -> None:
    pos = 8
    option = struct.Struct(order + "HH")
    while pos + 4 <= len(body):
        code, length = option.unpack_from(body, pos)
        value = body[pos + 4 : pos + 4 + length]
        pos += 4 + (length + 3) // 4 * 4
        if code == 0:
            break
        if code == 9 and len(value) >= 1:  # if_tsresol
            exp = value[0]
            itf.per_second = 2 ** (exp & 0x7F) if exp & 0x80 else 10 ** min(exp, 30)
        elif code == 14 and len(value) == 8:  # if_tsoffset, seconds
            itf.offset_us = struct.unpack(order + "q", value)[0] * 1_000_000
