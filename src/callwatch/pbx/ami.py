"""Asterisk's manager interface (AMI): its text read into core events, live or from a file.

Why written here rather than taken from PyPI: the protocol callwatch needs is small, a banner
line then blocks of ``Name: value`` lines ended by an empty line, and callwatch only logs in
and listens (its manager user may write nothing). The asyncio AMI libraries on PyPI are
either unmaintained for years (panoramisk's last release is from 2021) or young one-person
projects, and each would bring its own reconnect policy, action/response bookkeeping and
event objects built for sending actions. What callwatch needs of a client is narrower and
must be exact: the event's own ``Timestamp:`` kept as given (time is data), the same parser
for a recorded stream (``callwatch ingest --ami FILE``) as for the live one, a bounded reader
that survives hostile or broken input, and reconnection with backoff that the service's
readiness can report. So the line format is written once, here:

- :class:`AmiParser`: bytes in, blocks (lists of name/value pairs) out; sans-IO;
- :func:`event_of`: a block to a :class:`~callwatch.sip.ami.AmiEvent` (or None for a
  response), refusing an event without ``Timestamp:`` (``timestampevents = yes`` is needed);
- :func:`read_ami_file`: the events of a recorded stream;
- :class:`AmiClient`: logs in (``Events: on``), hands every event to a callback, sends a
  ``Ping`` when the line is quiet and reconnects with exponential backoff when the
  connection drops, the login is refused or the manager goes silent.

The read-only manager user (``manager.conf``)::

    [callwatch]
    secret = <from CALLWATCH_AMI_SECRET>
    deny = 0.0.0.0/0.0.0.0
    permit = 192.0.2.20/255.255.255.255
    read = call,agent,user
    write =
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from callwatch.settings import parse_ami_url
from callwatch.sip.ami import AmiEvent

log = logging.getLogger(__name__)

MAX_LINE: Final = 65_536
"""Longest line accepted (bytes); a longer one is cut there and counted."""
MAX_FIELDS: Final = 1_000
"""Most headers one block may have; the rest are dropped and counted."""

Block = list[tuple[str, str]]
_LOGIN: Final = "callwatch-login"


class AmiFormatError(ValueError):
    """A block that is not a usable manager event (the message says why)."""


class AmiParser:
    """Sans-IO reader of the manager's line format: :meth:`feed` bytes, get whole blocks.

    The banner (``Asterisk Call Manager/11.0.0``) is kept in :attr:`banner`. Lines end in
    CRLF (LF alone is taken too); an empty line ends a block. Over-long lines and blocks are
    cut and counted in :attr:`problems`, never raised: the reader keeps going.
    """

    def __init__(self) -> None:
        self.banner: str | None = None
        self.problems: Counter[str] = Counter()
        self._buffer = b""
        self._block: Block = []

    def feed(self, data: bytes) -> list[Block]:
        """Take the next bytes of the stream; return the blocks they completed."""
        blocks: list[Block] = []
        buffer = self._buffer + data
        start = 0
        while True:
            end = buffer.find(b"\n", start)
            if end < 0:
                break
            self._line(buffer[start:end], blocks)
            start = end + 1
        rest = buffer[start:]
        if len(rest) > MAX_LINE:
            self.problems["line too long"] += 1
            self._line(rest[:MAX_LINE], blocks)
            rest = b""
        self._buffer = rest
        return blocks

    def close(self) -> list[Block]:
        """End of the stream: the block still open, if any (a file without its last blank
        line)."""
        blocks: list[Block] = []
        if self._buffer:
            self._line(self._buffer, blocks)
            self._buffer = b""
        self._line(b"", blocks)
        return blocks

    def _line(self, raw: bytes, blocks: list[Block]) -> None:
        if len(raw) > MAX_LINE:
            self.problems["line too long"] += 1
            raw = raw[:MAX_LINE]
        line = raw.rstrip(b"\r").decode("utf-8", "replace")
        if not line:
            if self._block:
                blocks.append(self._block)
                self._block = []
            return
        name, colon, value = line.partition(":")
        if not colon:
            if self.banner is None and not self._block:
                self.banner = line
            else:
                self.problems["line without a colon"] += 1
            return
        if len(self._block) >= MAX_FIELDS:
            self.problems["too many headers"] += 1
            return
        self._block.append((name.strip(), value[1:] if value.startswith(" ") else value))


def parse_timestamp(text: str) -> int:
    """``1796521323.602120`` (seconds, up to microseconds) → integer microseconds, exactly."""
    whole, dot, frac = text.strip().partition(".")
    if not whole.isdigit() or (dot and not frac.isdigit()) or len(frac) > 6:
        raise AmiFormatError(f"Timestamp {text!r} is not seconds.microseconds")
    return int(whole) * 1_000_000 + int(frac.ljust(6, "0") or 0)


def event_of(block: Block, seq: int = 0) -> AmiEvent | None:
    """The event a block carries; None for anything else (a response to an action).

    Raises :class:`AmiFormatError` for an event with no usable ``Timestamp:``."""
    if not block or block[0][0].lower() != "event":
        return None
    name = block[0][1].strip()
    fields = tuple(block[1:])
    stamp = next((v for k, v in fields if k.lower() == "timestamp"), None)
    if stamp is None:
        raise AmiFormatError(
            f"event {seq} ({name}) has no Timestamp: set timestampevents = yes in manager.conf"
        )
    return AmiEvent(parse_timestamp(stamp), name, fields, seq)


@dataclass
class AmiStats:
    """What one manager stream gave: events read, blocks refused by reason, connections."""

    events: int = 0
    responses: int = 0
    refused: Counter[str] = field(default_factory=Counter)
    connects: int = 0
    drops: int = 0

    def refuse(self, reason: str, context: str) -> None:
        """Count a refused block, logging the first of each reason with its context."""
        if not self.refused[reason]:
            log.warning("AMI: %s (%s); further ones are counted", reason, context)
        self.refused[reason] += 1


class _Events:
    """Blocks → events, numbering them and counting what is refused."""

    def __init__(self, stats: AmiStats, where: str) -> None:
        self.stats = stats
        self.where = where
        self.seq = 0

    def take(self, blocks: list[Block]) -> Iterator[AmiEvent]:
        for block in blocks:
            self.seq += 1
            try:
                event = event_of(block, self.seq)
            except AmiFormatError as exc:
                reason = "no Timestamp" if "no Timestamp" in str(exc) else "bad Timestamp"
                self.stats.refuse(reason, f"{self.where}: {exc}")
                continue
            if event is None:
                self.stats.responses += 1
                continue
            self.stats.events += 1
            yield event


def read_ami_file(path: Path, stats: AmiStats | None = None) -> Iterator[AmiEvent]:
    """The events of a recorded manager stream (the raw text, banner and responses too)."""
    stats = stats if stats is not None else AmiStats()
    parser = AmiParser()
    events = _Events(stats, str(path))
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 16):
            yield from events.take(parser.feed(chunk))
    yield from events.take(parser.close())
    for problem, n in parser.problems.items():
        stats.refuse(problem, f"{path}: {n} time(s)")


class Backoff:
    """Delays between reconnection attempts: ``first``, doubled each time up to ``most``;
    back to ``first`` after a login that worked."""

    def __init__(self, first: float = 1.0, most: float = 30.0) -> None:
        self.first = first
        self.most = most
        self._next = first

    def next(self) -> float:
        """The delay before the next attempt."""
        delay = self._next
        self._next = min(self.most, self._next * 2)
        return delay

    def reset(self) -> None:
        """A session worked: start again from ``first``."""
        self._next = self.first


class AmiLoginError(Exception):
    """The manager refused the login (wrong user or secret, or not permitted from here)."""


class AmiClient:
    """A read-only manager connection that stays up: log in, read events, reconnect.

    ``on_event`` is called in the loop for every event, in stream order. When the line has
    been quiet for ``ping_every`` seconds a ``Ping`` is sent (allowed with ``write =``
    nothing); no byte for ``idle_timeout`` seconds counts as a dead connection. After a
    drop, a refused login or a failed connect, the next attempt waits :class:`Backoff`'s
    delay (``delays`` keeps the last ones, for readiness and tests).
    """

    def __init__(
        self,
        url: str,
        user: str,
        secret: str,
        on_event: Callable[[AmiEvent], None],
        *,
        backoff: Backoff | None = None,
        connect_timeout: float = 10.0,
        ping_every: float = 20.0,
        idle_timeout: float = 60.0,
    ) -> None:
        self.url = url
        self.host, self.port = parse_ami_url(url)
        self._user = user
        self._secret = secret
        self._on_event = on_event
        self.backoff = backoff or Backoff()
        self.connect_timeout = connect_timeout
        self.ping_every = ping_every
        self.idle_timeout = idle_timeout
        self.stats = AmiStats()
        self.connected = False
        self.last_error = ""
        self.delays: list[float] = []
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._writer: asyncio.StreamWriter | None = None
        self._events = _Events(self.stats, f"manager {self.host}:{self.port}")

    async def start(self) -> None:
        """Start connecting in the background (the first attempt at once)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run_forever(), name="callwatch-ami")

    async def close(self) -> None:
        """Stop reading and close the connection."""
        if self._task is not None:
            self._closing = True
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.connected = False

    def status(self) -> tuple[bool, str]:
        """(up, what a person reads): connected, or why not and when it tries again."""
        where = f"{self.host}:{self.port}"
        if self.connected:
            return True, f"connected to manager {where} ({self.stats.events} events)"
        why = self.last_error or "connecting"
        return False, f"manager {where}: {why}; retrying"

    async def _run_forever(self) -> None:
        while True:
            try:
                await self._session()
                self.last_error = "connection closed by the manager"
            except AmiLoginError as exc:
                self.last_error = f"login refused: {exc}"
            except (OSError, TimeoutError, asyncio.IncompleteReadError) as exc:
                self.last_error = _why(exc)
            except Exception as exc:  # a bug in a handler must not end the reader for good
                log.exception("AMI: reading events failed")
                self.last_error = f"reading failed: {exc!r}"
            finally:
                if self.connected and not self._closing:
                    self.stats.drops += 1
                self.connected = False
                writer, self._writer = self._writer, None
                if writer is not None:
                    writer.close()
            delay = self.backoff.next()
            self.delays = [*self.delays[-9:], delay]
            log.warning("AMI %s:%s: %s; again in %.1f s", self.host, self.port,
                        self.last_error, delay)  # fmt: skip
            await asyncio.sleep(delay)

    async def _session(self) -> None:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(self.host, self.port), self.connect_timeout
        )
        self._writer = writer
        parser = AmiParser()
        pending = await self._login(reader, writer, parser)
        self.connected = True
        self.stats.connects += 1
        self.backoff.reset()
        self.last_error = ""
        log.info("AMI: logged in to %s:%s as %s", self.host, self.port, self._user)
        while True:
            for event in self._events.take(pending):
                self._on_event(event)
            pending = await self._read(reader, writer, parser)

    async def _login(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: AmiParser
    ) -> list[Block]:
        """Log in; return the blocks that came after the answer in the same read."""
        writer.write(
            (
                f"Action: Login\r\nActionID: {_LOGIN}\r\n"
                f"Username: {self._user}\r\nSecret: {self._secret}\r\nEvents: on\r\n\r\n"
            ).encode()
        )
        await writer.drain()
        deadline = asyncio.get_running_loop().time() + self.connect_timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            data = await asyncio.wait_for(reader.read(1 << 16), max(left, 0.001))
            if not data:
                raise ConnectionResetError("closed before the login was answered")
            blocks = parser.feed(data)
            for i, block in enumerate(blocks):
                fields = dict(block)
                if "Response" not in fields or fields.get("ActionID", _LOGIN) != _LOGIN:
                    continue  # another action's answer
                if fields.get("Response") == "Success":
                    return blocks[i + 1 :]
                raise AmiLoginError(fields.get("Message") or "no reason given")

    async def _read(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, parser: AmiParser
    ) -> list[Block]:
        quiet = 0.0
        while True:
            wait = min(self.ping_every, self.idle_timeout - quiet)
            try:
                data = await asyncio.wait_for(reader.read(1 << 16), wait)
            except TimeoutError:
                quiet += wait
                if quiet >= self.idle_timeout:
                    raise TimeoutError(f"no word from the manager for {quiet:.0f} s") from None
                writer.write(b"Action: Ping\r\nActionID: callwatch-ping\r\n\r\n")
                await writer.drain()
                continue
            if not data:
                raise ConnectionResetError("connection closed by the manager")
            return parser.feed(data)


def _why(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return str(exc) or "timed out"
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    return str(exc) or type(exc).__name__
