"""The demo data set: weeks of calls made from the recorded fixtures, for a first look.

``callwatch serve --demo`` fills an empty embedded store with the captures of
``sip_fixtures/`` replayed many times: each replay moves the capture's timestamps to a time of
the office day (:func:`shift_packets`), gives the call its own Call-IDs and correlation values,
a caller number of its own and extensions of one department (:func:`rewrite_payload`), so the
pipeline sees thousands of distinct calls. The mix is seeded, so one anchor time always gives
the same data set; breaches grow rarer week by week, as an office that trains its staff would
see. The anchor (the demo's "now") is the only wall-clock time involved, and the caller of
:func:`build_demo` chooses it.

Theory of the rewrite: only the header part of a SIP message changes (the body and its
Content-Length stay as captured); URI user parts (``sip:2001@``) are mapped through the
replay's number map, Call-IDs (also inside ``Replaces`` and URL-encoded in ``Refer-To``) and
``X-CID``-style correlation headers get the replay's suffix.
"""

from __future__ import annotations

import dataclasses
import os
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

from callwatch.api.auth import TokenStore
from callwatch.capture import CaptureError, CaptureStats, Packet, read_capture
from callwatch.pipeline import CallPipeline
from callwatch.settings import Settings
from callwatch.sip.message import SipParseError, parse_message
from callwatch.site import SiteConfig
from callwatch.store import RawMessage, Store
from callwatch.store.codec import StoreItem

DEFAULT_SEED = 20261123
DEFAULT_WEEKS = 13
DEFAULT_CALLS_PER_DAY = 24

_SECOND = 1_000_000
_DAY = 86_400 * _SECOND
_HEADER_END = b"\r\n\r\n"
_CALL_ID_LINE = re.compile(rb"^(?:call-id|i)[ \t]*:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
_URI_USER = re.compile(rb"(sips?:|tel:)(\+?[0-9]+)(?=[@;>]|$)", re.MULTILINE)
_CORRELATION = re.compile(
    rb"^((?:x-cid|x-asterisk-linkedid)[ \t]*:[ \t]*)(\S+)", re.IGNORECASE | re.MULTILINE
)

# The numbering plan of the fixtures (sip_fixtures/README.md).
_STAFF_PRIMARY = tuple(str(n) for n in range(2001, 2010))
_STAFF_OTHER = tuple(str(n) for n in range(3001, 3010))
_PUBLIC_NUMBERS = ("0613390000", "2000")
_OTHER_NUMBER = "3000"
_EXTERNAL = ("01012345678", "0613398731")

# Fixture → weight in the office's mix; the second number is 1 when the fixture is a breach
# (or a missed call), whose weight shrinks week by week.
_MIX: dict[str, tuple[int, int]] = {
    "answered_1st_ring": (22, 0),
    "tcp_call": (3, 0),
    "ipv6_call": (2, 0),
    "fragmented_invite": (2, 0),
    "hep_kamailio": (4, 0),
    "b2bua_pair": (4, 0),
    "b2bua_pair_noheader": (2, 0),
    "ivr_then_staff": (4, 0),
    "ring_group_fork": (6, 0),
    "blind_transfer": (5, 0),
    "attended_transfer": (3, 0),
    "internal_call": (3, 0),
    "outbound_call": (4, 0),
    "answered_3rd_ring": (7, 1),
    "agent_hangs_up_first": (5, 1),
    "transfer_slow": (3, 1),
    "ring_timeout": (2, 1),
    "caller_cancels": (3, 1),
    "busy": (2, 1),
    "missed_then_callback_40min": (2, 1),
    "missed_then_callback_2h": (2, 1),
}
_RECENT_MISSED = ("caller_cancels", "busy", "ring_timeout")
# Share of the day's calls per office hour (09:00 .. 17:00 starts).
_HOURS = {9: 12, 10: 16, 11: 14, 12: 5, 13: 10, 14: 15, 15: 14, 16: 11, 17: 6}


class DemoError(Exception):
    """The demo data set cannot be built (no fixtures, an unreadable capture, a site without
    departments)."""


@dataclass(frozen=True, slots=True)
class DemoSummary:
    """What :func:`build_demo` put in the store."""

    replays: int
    packets: int
    calls: int
    breaches: int
    callbacks: int
    messages: int
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class Replay:
    """One fixture placed in time: its packets start ``start`` µs after the epoch."""

    fixture: str
    start: int
    department: str
    tag: str
    numbers: dict[str, str]


def shift_packets(packets: Iterable[Packet], offset_us: int) -> list[Packet]:
    """The packets with ``offset_us`` added to each capture time (order kept)."""
    return [dataclasses.replace(p, ts=p.ts + offset_us) for p in packets]


def call_ids(packets: Iterable[Packet]) -> set[bytes]:
    """The Call-ID header values of ``packets``."""
    found: set[bytes] = set()
    for p in packets:
        found.update(
            m.group(1) for m in _CALL_ID_LINE.finditer(p.payload.partition(_HEADER_END)[0])
        )
    return found


def rewrite_payload(
    payload: bytes, tag: str, numbers: dict[str, str], ids: Iterable[bytes] = ()
) -> bytes:
    """``payload`` with its Call-IDs (its own and ``ids``, the capture's others, which may
    appear in ``Replaces`` or ``Refer-To``) and correlation values suffixed by ``-tag`` and the
    user parts of its URIs mapped through ``numbers``; the body is left as captured."""
    head, sep, body = payload.partition(_HEADER_END)
    suffix = b"-" + tag.encode()
    own = {m.group(1) for m in _CALL_ID_LINE.finditer(head)}
    ids = sorted(own.union(ids), key=len, reverse=True)
    for cid in ids:
        new = cid + suffix
        head = head.replace(cid, new)
        quoted = quote(cid.decode("latin-1"), safe="").encode("latin-1")
        if quoted != cid:
            head = head.replace(quoted, quote(new.decode("latin-1"), safe="").encode("latin-1"))
    head = _CORRELATION.sub(lambda m: m.group(1) + m.group(2) + suffix, head)
    mapped = {k.encode(): v.encode() for k, v in numbers.items()}
    head = _URI_USER.sub(lambda m: m.group(1) + mapped.get(m.group(2), m.group(2)), head)
    return head + sep + body


def find_fixtures(path: str | Path | None = None) -> Path:
    """The ``sip_fixtures`` folder: ``path`` when given, else beside the source tree, else in
    the current directory. Raises :class:`DemoError` naming the places looked at."""
    candidates = (
        [Path(path)]
        if path is not None
        else [Path(__file__).resolve().parents[2] / "sip_fixtures", Path.cwd() / "sip_fixtures"]
    )
    for folder in candidates:
        if folder.is_dir() and any(folder.glob("*.pcap")):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    raise DemoError(
        f"no SIP captures for the demo: looked for sip_fixtures/*.pcap in {looked}; "
        "run from a checkout of the callwatch repository (the captures ship there)"
    )


def load_fixtures(folder: Path) -> dict[str, tuple[Packet, ...]]:
    """Every capture of the demo's mix found in ``folder``, by fixture name."""
    found: dict[str, tuple[Packet, ...]] = {}
    for name in _MIX:
        file = folder / f"{name}.pcap"
        if not file.is_file():
            continue
        try:
            packets = tuple(read_capture(file, CaptureStats()))
        except CaptureError as exc:
            raise DemoError(f"{file}: {exc}") from None
        if packets:
            found[name] = packets
    if "answered_1st_ring" not in found:
        raise DemoError(f"{folder}: answered_1st_ring.pcap is missing; the demo needs it")
    return found


def plan_replays(
    site: SiteConfig,
    anchor: int,
    fixtures: dict[str, tuple[Packet, ...]],
    *,
    weeks: int = DEFAULT_WEEKS,
    calls_per_day: int = DEFAULT_CALLS_PER_DAY,
    seed: int = DEFAULT_SEED,
) -> list[Replay]:
    """Where each replay goes: office days (Monday to Friday, in the site's timezone) of the
    ``weeks`` weeks before ``anchor``, plus a few missed calls just before it (so callbacks
    are open "now"). Every replay ends before ``anchor``."""
    departments = [d for d in site.directory.departments if _extensions(d.extensions)]
    if not departments:
        raise DemoError(f"site {site.name!r} has no department with staff extensions")
    rng = random.Random(seed)
    zone = ZoneInfo(site.timezone)
    today = datetime.fromtimestamp(anchor / _SECOND, UTC).astimezone(zone).date()
    first_day = today - timedelta(days=7 * weeks - 1)
    durations = {name: pkts[-1].ts - pkts[0].ts for name, pkts in fixtures.items()}
    names = list(fixtures)
    replays: list[Replay] = []
    day = first_day
    while day <= today:
        if day.weekday() < 5:
            progress = (day - first_day).days / max(1, 7 * weeks - 1)
            for _ in range(max(1, round(calls_per_day * rng.uniform(0.7, 1.3)))):
                dep_index = rng.randrange(len(departments))
                # breaches fall from 1.6x to 0.5x; the second department starts better
                shrink = (1.6 - 1.1 * progress) * (0.7 if dep_index % 2 else 1.0)
                weights = [_MIX[n][0] * (shrink if _MIX[n][1] else 1.0) for n in names]
                name = rng.choices(names, weights)[0]
                start = _office_time(rng, day, zone)
                if start + durations[name] + 60 * _SECOND > anchor:
                    continue
                replays.append(_replay(rng, name, start, departments, dep_index, len(replays)))
        day += timedelta(days=1)
    recent = [n for n in _RECENT_MISSED if n in fixtures]
    for minutes in (12, 27, 48) if recent else ():
        dep_index = rng.randrange(len(departments))
        name = rng.choice(recent)
        start = anchor - minutes * 60 * _SECOND - durations[name]
        replays.append(_replay(rng, name, start, departments, dep_index, len(replays)))
    replays.sort(key=lambda r: (r.start, r.tag))
    return replays


def replay_packets(replay: Replay, packets: Sequence[Packet]) -> list[Packet]:
    """The fixture's packets as this replay sends them: moved in time, renamed, renumbered."""
    moved = shift_packets(packets, replay.start - packets[0].ts)
    ids = call_ids(packets)
    return [
        dataclasses.replace(p, payload=rewrite_payload(p.payload, replay.tag, replay.numbers, ids))
        for p in moved
    ]


def build_demo(
    store: Store,
    site: SiteConfig,
    anchor: int,
    *,
    fixtures: str | Path | None = None,
    weeks: int = DEFAULT_WEEKS,
    calls_per_day: int = DEFAULT_CALLS_PER_DAY,
    seed: int = DEFAULT_SEED,
) -> DemoSummary:
    """Fill ``store`` (its schema upgraded, the site's directory synced) with the demo calls
    of the ``weeks`` weeks before ``anchor`` (µs); callbacks are judged as of ``anchor``."""
    captures = load_fixtures(find_fixtures(fixtures))
    replays = plan_replays(
        site, anchor, captures, weeks=weeks, calls_per_day=calls_per_day, seed=seed
    )
    packets = [p for r in replays for p in replay_packets(r, captures[r.fixture])]
    packets.sort(key=lambda p: p.ts)
    store.upgrade()
    store.sync_directory(site)
    pipe = CallPipeline(site)
    batch: list[StoreItem] = []
    calls = breaches = messages = 0
    for packet in packets:
        out = pipe.push(packet)
        batch.extend(out)
        try:
            batch.append(RawMessage.from_packet(packet, parse_message(packet.payload)))
            messages += 1
        except (SipParseError, ValueError):
            pass
        if len(batch) >= 2000:
            store.save(batch)
            batch.clear()
    batch.extend(pipe.flush(anchor))
    store.save(batch)
    counts = store.counts()
    for row in store.verdict_counts():
        if not row.ok:
            breaches += row.count
    calls = counts.get("calls", 0)
    return DemoSummary(
        replays=len(replays),
        packets=len(packets),
        calls=calls,
        breaches=breaches,
        callbacks=counts.get("callbacks", 0),
        messages=messages,
        first=packets[0].ts if packets else anchor,
        last=packets[-1].ts if packets else anchor,
    )


def _replay(
    rng: random.Random,
    name: str,
    start: int,
    departments: list,
    dep_index: int,
    serial: int,
) -> Replay:
    dep = departments[dep_index]
    other = departments[(dep_index + 1) % len(departments)]
    numbers: dict[str, str] = {}
    staff = _extensions(dep.extensions)
    rng.shuffle(staff)
    for i, ext in enumerate(_STAFF_PRIMARY):
        numbers[ext] = staff[i % len(staff)]
    others = _extensions(other.extensions)
    rng.shuffle(others)
    for i, ext in enumerate(_STAFF_OTHER):
        numbers[ext] = others[i % len(others)]
    if dep.numbers:
        numbers[_PUBLIC_NUMBERS[0]] = dep.numbers[0]
        numbers[_PUBLIC_NUMBERS[1]] = dep.numbers[-1]
    if other.numbers:
        numbers[_OTHER_NUMBER] = other.numbers[-1]
    numbers[_EXTERNAL[0]] = f"010{rng.randrange(10**8):08d}"
    numbers[_EXTERNAL[1]] = (
        f"0{rng.choice(('61', '62', '63'))}{rng.randrange(2, 10)}{rng.randrange(10**6):06d}"
    )
    return Replay(name, start, dep.name, f"d{serial:05d}", numbers)


def _extensions(ranges: Sequence) -> list[str]:
    """Up to 50 extensions of the ranges, as text."""
    out: list[str] = []
    for r in ranges:
        width = len(r.first)
        for n in range(int(r.first), int(r.last) + 1):
            out.append(str(n).zfill(width))
            if len(out) >= 50:
                return out
    return out


def _office_time(rng: random.Random, day: date, zone: ZoneInfo) -> int:
    hour = rng.choices(list(_HOURS), list(_HOURS.values()))[0]
    local = datetime(day.year, day.month, day.day, hour, rng.randrange(60), rng.randrange(60))
    aware = local.replace(tzinfo=zone)
    return int(aware.timestamp()) * _SECOND + rng.randrange(_SECOND)


TOKEN_FILE = "demo-token"
"""The file of the data directory (mode 0600) that keeps the demo's admin token."""
DEMO_TOKEN_NAME = "demo"
"""The name of the demo's admin tokens (older ones are revoked when a new one is made)."""


@dataclass(frozen=True, slots=True)
class DemoSetup:
    """What ``serve --demo`` prepared: the settings to serve with (the demo's own SQLite
    file), the admin token, the file that keeps it and whether it was reused from there, and
    what was stored (None when the store had calls already)."""

    settings: Settings
    token: str
    summary: DemoSummary | None
    token_file: Path
    reused: bool


def prepare_demo(
    site: SiteConfig,
    settings: Settings,
    anchor: int,
    *,
    fixtures: str | Path | None = None,
) -> DemoSetup:
    """Point ``settings`` at the embedded demo store (``DATA_DIR/demo.sqlite``, never a
    configured database), fill it when it holds no calls (as of ``anchor``, the demo's "now"),
    and reuse the admin token kept in ``DATA_DIR/demo-token`` while it is valid (else make
    one, revoke the demo's older ones and keep the new one there, mode 0600). Raises
    :class:`DemoError` when the captures are missing."""
    settings = settings.for_demo()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    token_file = settings.data_dir / TOKEN_FILE
    store = Store.open(settings.store_url, site=site.name)
    try:
        store.upgrade()
        summary = None
        if store.counts().get("calls", 0) == 0:
            summary = build_demo(store, site, anchor, fixtures=fixtures)
        tokens = TokenStore(store.engine)
        token = _kept_token(token_file, tokens)
        reused = token is not None
        if token is None:
            for record in tokens.list():
                if record.name == DEMO_TOKEN_NAME and record.active:
                    tokens.revoke(record.id)
            _, token = tokens.create("admin", name=DEMO_TOKEN_NAME)
            _keep_token(token_file, token)
    finally:
        store.close()
    return DemoSetup(settings, token, summary, token_file, reused)


def _kept_token(file: Path, tokens: TokenStore) -> str | None:
    """The token kept in ``file`` when it is still a valid admin token and the file is
    readable by its owner only (a file others could read may have leaked it)."""
    try:
        if file.stat().st_mode & 0o077:
            return None
        token = file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None
    principal = tokens.verify(token)
    return token if principal is not None and principal.role == "admin" else None


def _keep_token(file: Path, token: str) -> None:
    """Write ``token`` to ``file``, mode 0600 from its creation, replacing any older file."""
    part = file.with_name(file.name + ".part")
    part.unlink(missing_ok=True)
    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as out:
        out.write(token + "\n")
    os.replace(part, file)
