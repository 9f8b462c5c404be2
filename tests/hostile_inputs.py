"""A seeded generator of hostile HEP input, for tests/test_hostile.py and bench/hostile.py.

Each attack makes HEP3 datagrams as an attacker on the HEP port would send them, and says
how the listener must account for each: ``accepted`` (handed on as a SIP packet), the error
or skip kind it must be counted under (``hep_too_large``, ``bad_hep``, ``hep_non_sip``), or
``any`` where random bytes may land either way. Capture times are given by the caller, so the
attack can be interleaved with real calls. The same seed gives the same datagrams.

Outside numbers used here (scanners' callers and the number they call) are unlike any number
in sip_fixtures/ or examples/site.toml, so that the B2BUA rule ties none of them to a real call.
"""

from __future__ import annotations

import random
import struct
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from callwatch.capture.hep import encode_hep3
from callwatch.capture.packet import Packet
from callwatch.packet import MAX_MESSAGE

SCANNED_NUMBER = "00972599001122"
"""The outside number a toll-fraud scanner's INVITEs dial."""
SCANNER = ("198.51.100.7", 5070)
PBX = ("10.0.0.2", 5060)


@dataclass(frozen=True, slots=True)
class Hostile:
    """One datagram, the attack that made it, and how it must be counted."""

    attack: str
    data: bytes
    expect: str


def _sip(
    rng: random.Random,
    caller: str,
    callee: str,
    extra: bytes = b"",
    method: str = "INVITE",
) -> bytes:
    call_id = f"{rng.getrandbits(64):016x}@scan"
    return (
        (
            f"{method} sip:{callee}@{PBX[0]} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {SCANNER[0]}:{SCANNER[1]};branch=z9hG4bK{rng.getrandbits(32):x}\r\n"
            f"From: <sip:{caller}@{SCANNER[0]}>;tag={rng.getrandbits(32):x}\r\n"
            f"To: <sip:{callee}@{PBX[0]}>\r\n"
            f"Call-ID: {call_id}\r\n"
            f"CSeq: 1 {method}\r\n"
            "User-Agent: friendly-scanner\r\n"
        ).encode()
        + extra
        + b"Content-Length: 0\r\n\r\n"
    )


def _scanner_number(rng: random.Random) -> str:
    return f"0097{rng.randrange(10**9):09d}"


def _hep(payload: bytes, ts: int, *, compress: bool = False, ptype: int | None = None) -> bytes:
    data = encode_hep3(Packet(ts, SCANNER, PBX, "udp", payload), compress=compress)
    if ptype is not None:  # chunk 0x000b (protocol type) is the 11th byte of its 7-byte chunk
        at = data.index(b"\x00\x00\x00\x0b\x00\x07") + 6
        data = data[:at] + bytes([ptype]) + data[at + 1 :]
    return data


def _with_zipped_payload(gram: bytes, zipped: bytes) -> bytes:
    """``gram`` with its payload chunk (the last) replaced by a compressed one."""
    pos = last = 6
    while pos < len(gram):
        last = pos
        pos += struct.unpack_from("!H", gram, pos + 4)[0]
    out = gram[:last] + struct.pack("!HHH", 0, 0x0010, 6 + len(zipped)) + zipped
    return out[:4] + struct.pack("!H", len(out)) + out[6:]


def gzip_bomb(rng: random.Random, ts: int) -> list[Hostile]:
    """About 1.3 KB on the wire, a 1 MB INVITE once inflated."""
    pad = bytes([rng.choice(b"abc")]) * (1 << 20)
    big = _sip(rng, _scanner_number(rng), SCANNED_NUMBER, b"X-Pad: " + pad + b"\r\n")
    gram = _with_zipped_payload(_hep(b"x", ts), zlib.compress(big, 9, wbits=31))
    return [Hostile("gzip_bomb", gram, "hep_too_large")]


def gzip_near_limit(rng: random.Random, ts: int) -> list[Hostile]:
    """A small compressed datagram inflating to an INVITE just under the size limit, with
    one long header no other message has."""
    size = MAX_MESSAGE - 600
    pad = f"{rng.getrandbits(64):x}".encode() * (size // 16)
    msg = _sip(rng, _scanner_number(rng), SCANNED_NUMBER, b"X-Pad: " + pad[:size] + b"\r\n")
    return [Hostile("gzip_near_limit", _hep(msg, ts, compress=True), "accepted")]


def folding(rng: random.Random, ts: int) -> list[Hostile]:
    """An INVITE whose Subject is folded over thousands of lines."""
    folds = rng.randrange(1_000, 15_000)
    extra = b"Subject: x" + b"\r\n y" * folds + b"\r\n"
    msg = _sip(rng, _scanner_number(rng), SCANNED_NUMBER, extra)
    return [Hostile("folding", _hep(msg, ts, compress=True), "accepted")]


def huge_header(rng: random.Random, ts: int) -> list[Hostile]:
    """An uncompressed INVITE carrying one 60 KB header line of its own."""
    line = b"X-Huge: " + bytes(rng.choice(b"0123456789abcdef") for _ in range(64)) * 940
    msg = _sip(rng, _scanner_number(rng), SCANNED_NUMBER, line + b"\r\n")
    return [Hostile("huge_header", _hep(msg, ts), "accepted")]


def unique_headers(rng: random.Random, ts: int) -> list[Hostile]:
    """An INVITE of a hundred header lines no message had before (cache growth)."""
    lines = b"".join(
        f"X-{rng.getrandbits(40):x}: {'v' * rng.randrange(1, 500)}\r\n".encode() for _ in range(100)
    )
    msg = _sip(rng, _scanner_number(rng), SCANNED_NUMBER, lines)
    return [Hostile("unique_headers", _hep(msg, ts, compress=True), "accepted")]


def invite_flood(rng: random.Random, ts: int) -> list[Hostile]:
    """A toll-fraud scanner's INVITE to one outside number, never answered; sometimes sent
    twice (a retransmission)."""
    gram = _hep(_sip(rng, _scanner_number(rng), SCANNED_NUMBER), ts)
    out = [Hostile("invite_flood", gram, "accepted")]
    if rng.random() < 0.2:
        out.append(Hostile("invite_flood", gram, "accepted"))
    return out


def stray_dialog(rng: random.Random, ts: int) -> list[Hostile]:
    """Responses, BYEs and CANCELs for dialogs never seen, and a call's messages in reverse."""
    caller = _scanner_number(rng)
    invite = _sip(rng, caller, SCANNED_NUMBER)
    head, _, _ = invite.partition(b"\r\nUser-Agent")
    lines = head.split(b"\r\n")[1:]
    reply = b"SIP/2.0 404 Not Found\r\n" + b"\r\n".join(lines) + b"\r\nContent-Length: 0\r\n\r\n"
    bye = invite.replace(b"INVITE", b"BYE")
    cancel = invite.replace(b"INVITE", b"CANCEL")
    grams = [_hep(p, ts + i) for i, p in enumerate(rng.sample([reply, bye, cancel, invite], 4))]
    return [Hostile("stray_dialog", g, "accepted") for g in grams]


def truncated(rng: random.Random, ts: int) -> list[Hostile]:
    """A real-looking HEP3 datagram cut short anywhere."""
    gram = _hep(_sip(rng, _scanner_number(rng), SCANNED_NUMBER), ts, compress=rng.random() < 0.5)
    return [Hostile("truncated", gram[: rng.randrange(len(gram))], "bad_hep")]


def garbage(rng: random.Random, ts: int) -> list[Hostile]:
    """Random bytes that are not HEP (their first byte is no HEP version or magic)."""
    first = rng.choice([b for b in range(256) if b not in (1, 2, ord("H"))])
    data = bytes([first]) + rng.randbytes(rng.randrange(0, 1400))
    return [Hostile("garbage", data, "bad_hep")]


def hep_garbage(rng: random.Random, ts: int) -> list[Hostile]:
    """HEP magic, then a real datagram's bytes with some flipped, cut or inserted."""
    data = bytearray(_hep(_sip(rng, _scanner_number(rng), SCANNED_NUMBER), ts))
    for _ in range(rng.randint(1, 4)):
        pos = rng.randrange(4, len(data))
        action = rng.random()
        if action < 0.6:
            data[pos] = rng.randrange(256)
        elif action < 0.8:
            del data[pos : pos + rng.randint(1, 16)]
        else:
            data[pos:pos] = rng.randbytes(rng.randint(1, 16))
    if rng.random() < 0.7:
        data[4:6] = struct.pack("!H", len(data) & 0xFFFF)
    return [Hostile("hep_garbage", bytes(data), "any")]


def non_sip(rng: random.Random, ts: int) -> list[Hostile]:
    """HEP3 datagrams saying they carry RTCP, logs or DNS."""
    ptype = rng.choice((5, 100, 53))
    gram = _hep(rng.randbytes(rng.randrange(1, 800)), ts, ptype=ptype)
    return [Hostile("non_sip", gram, "hep_non_sip")]


ATTACKS: dict[str, Callable[[random.Random, int], list[Hostile]]] = {
    f.__name__: f
    for f in (
        gzip_bomb,
        gzip_near_limit,
        folding,
        huge_header,
        unique_headers,
        invite_flood,
        stray_dialog,
        truncated,
        garbage,
        hep_garbage,
        non_sip,
    )
}
"""Every attack by name."""

WEIGHTS: dict[str, int] = {name: 1 for name in ATTACKS} | {"invite_flood": 8, "garbage": 2}
"""How often each attack is drawn in a mixed stream."""


def draw(rng: random.Random, ts: int, attacks: tuple[str, ...] = tuple(ATTACKS)) -> list[Hostile]:
    """One attack drawn by :data:`WEIGHTS` among ``attacks``, at capture time ``ts``."""
    (name,) = rng.choices(attacks, [WEIGHTS[a] for a in attacks])
    return ATTACKS[name](rng, ts)


def hostile_stream(
    seed: int, times: Iterator[int], attacks: tuple[str, ...] = tuple(ATTACKS)
) -> Iterator[Hostile]:
    """Datagrams of the given attacks, one draw per capture time taken from ``times`` (an
    attack may make more than one datagram)."""
    rng = random.Random(seed)
    for ts in times:
        yield from draw(rng, ts, attacks)
