"""SIP messages as captured: the tolerant parser of the capture path.

:func:`parse_message` reads one SIP request or response (RFC 3261 §7) from its bytes and
returns a :class:`SipMessage`, or raises :class:`SipParseError` — never anything else.
It accepts what PBXs and phones really send: any method, compact and any-case header names,
no space after the colon, folded lines, LF-only or mixed line ends, comma-joined Via, bodies
shorter than their Content-Length, invalid UTF-8. A message needs a start line, Call-ID,
CSeq, From and To; without them it is rejected with a message naming what is missing.

From, To, Call-ID and CSeq are read eagerly; everything else is kept as text and read on
demand (:attr:`SipMessage.vias`, :attr:`SipMessage.contact`, :meth:`SipMessage.header`).
Values read from the same text are shared (they are immutable), which makes a dialog's later
messages cheap. The module compiles with mypyc; interpreted, it stays the default.
See docs/sip-parser.md.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Final, cast

from callwatch.frozen import fast_init, runs_compiled
from callwatch.packet import MAX_MESSAGE
from callwatch.sip.uri import (
    CACHED_TEXT_MAX,
    NameAddr,
    Replaces,
    SipParseError,
    Uri,
    _new_name_addr,
    cached_uri,
    parse_name_addr,
    parse_replaces,
    parse_uri,
    split_commas,
    split_host_port,
)

__all__ = [
    "COMPACT_FORMS",
    "NameAddr",
    "Replaces",
    "SipMessage",
    "SipParseError",
    "Uri",
    "Via",
    "canonical_name",
    "parse_message",
    "parse_name_addr",
    "parse_replaces",
    "parse_uri",
    "parse_via",
]

COMPACT_FORMS: Mapping[str, str] = {
    "a": "accept-contact",  # RFC 3841
    "b": "referred-by",  # RFC 3892
    "c": "content-type",  # RFC 3261
    "d": "request-disposition",  # RFC 3841
    "e": "content-encoding",  # RFC 3261
    "f": "from",  # RFC 3261
    "i": "call-id",  # RFC 3261
    "j": "reject-contact",  # RFC 3841
    "k": "supported",  # RFC 3261
    "l": "content-length",  # RFC 3261
    "m": "contact",  # RFC 3261
    "n": "identity-info",  # RFC 4474
    "o": "event",  # RFC 3265
    "r": "refer-to",  # RFC 3515
    "s": "subject",  # RFC 3261
    "t": "to",  # RFC 3261
    "u": "allow-events",  # RFC 3265
    "v": "via",  # RFC 3261
    "x": "session-expires",  # RFC 4028
    "y": "identity",  # RFC 4474
}
"""Compact header forms → canonical (lower-case long) names."""

_StartLine = tuple[str | None, Uri | None, int | None, str | None]
"""(method, Request-URI, status, reason) of a start line."""

# Caches of values read from text (all immutable), cleared when full. Only texts of at most
# CACHED_TEXT_MAX characters are remembered, header lines of at most _LINE_TEXT_MAX (so the
# line cache holds at most _LINE_CACHE_LIMIT * _LINE_TEXT_MAX = 2 Mi characters of lines,
# without counting them as it fills): what a sender can make them hold is bounded in bytes.
# Real header lines longer than that are rare (a Via with many parameters, credentials) and
# are read afresh each time.
_CACHE_LIMIT: Final = 4096
_LINE_CACHE_LIMIT: Final = 16384
_LINE_TEXT_MAX: Final = 128
_names: Final[dict[str, str]] = {}
_name_addrs: Final[dict[str, NameAddr]] = {}
_vias: Final[dict[str, tuple[Via, ...]]] = {}
_cseqs: Final[dict[str, tuple[int, str]]] = {}
_via_heads: Final[dict[str, bool]] = {}
_starts: Final[dict[str, _StartLine]] = {}
_lines: Final[dict[str, Any]] = {}
"""Header line → (canonical name, stripped value). Typed Any, not tuple[str, str], so that
compiled code passes the shared tuple on instead of copying it into a new one."""
_TAGGED: Final = re.compile(r"([^\"<>]*<[^\"<>]*>);tag=([-.!%*_+`'~0-9A-Za-z]+)")
"""A name-addr with ``<>``, no quotes and one ``tag`` parameter (a token) after it."""
_CRLF: Final = (b"\r", b"\n")
_FOLD_START: Final = (" ", "\t")
_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True, init=False)
class Via:
    """One Via value. ``transport`` upper-case (``UDP``, ``TCP``, ``TLS``, ``WSS``...);
    ``host`` lower-case, IPv6 without brackets; ``params`` holds every parameter, branch
    included, names lower-case."""

    transport: str
    host: str
    port: int | None
    branch: str | None
    params: Mapping[str, str] = field(hash=False)

    def __init__(
        self,
        transport: str,
        host: str,
        port: int | None,
        branch: str | None,
        params: Mapping[str, str],
    ) -> None:
        # Written out (the dataclass would generate the same): compiled, these are plain stores.
        object.__setattr__(self, "transport", transport)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "branch", branch)
        object.__setattr__(self, "params", params)


@dataclass(frozen=True, slots=True, init=False, repr=False, eq=False)
class SipMessage:
    """One SIP request or response.

    ``headers`` holds every header as ``(canonical lower-case long name, value)`` in message
    order, compact forms expanded and folded lines joined; values are stripped text.
    ``body`` is exactly Content-Length bytes, or fewer when the capture holds fewer, or
    everything after the blank line when Content-Length is absent or unreadable.
    :attr:`vias` holds every Via value, comma-joined ones split, top first.

    Built by hand, ``vias`` may be left out (None): it is then read from the Via headers on
    first access, as for parsed messages (and for ``dataclasses.replace``, which passes only
    the dataclass fields). Equality, hashing and ``repr`` cover the fields and ``vias``.
    """

    method: str | None
    request_uri: Uri | None
    status: int | None
    reason: str | None
    headers: tuple[tuple[str, str], ...]
    body: bytes
    call_id: str
    cseq: int
    cseq_method: str
    from_: NameAddr
    to: NameAddr
    _vias: tuple[Via, ...] | None = field(init=False)
    _first: dict[str, str] = field(init=False)

    def __init__(
        self,
        method: str | None,
        request_uri: Uri | None,
        status: int | None,
        reason: str | None,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        call_id: str,
        cseq: int,
        cseq_method: str,
        from_: NameAddr,
        to: NameAddr,
        vias: tuple[Via, ...] | None = None,
        _first: dict[str, str] | None = None,
    ) -> None:
        # ``_first`` is the header index: the parser passes the one it built while reading.
        object.__setattr__(self, "method", method)
        object.__setattr__(self, "request_uri", request_uri)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "body", body)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "cseq", cseq)
        object.__setattr__(self, "cseq_method", cseq_method)
        object.__setattr__(self, "from_", from_)
        object.__setattr__(self, "to", to)
        object.__setattr__(self, "_vias", vias)
        object.__setattr__(self, "_first", dict(reversed(headers)) if _first is None else _first)

    @property
    def vias(self) -> tuple[Via, ...]:
        """Every readable Via value, comma-joined ones split, top first. The parser leaves
        them to be read here, on first access: the tracker needs them for few messages."""
        vias = self._vias
        if vias is None:
            vias = _vias_of(self.headers)
            object.__setattr__(self, "_vias", vias)
        return vias

    def _key(self) -> tuple[object, ...]:
        return (
            self.method,
            self.request_uri,
            self.status,
            self.reason,
            self.headers,
            self.body,
            self.call_id,
            self.cseq,
            self.cseq_method,
            self.from_,
            self.to,
            self.vias,
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SipMessage) and other.__class__ is self.__class__:
            return self._key() == other._key()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        pairs = zip(_REPR_NAMES, self._key(), strict=True)
        return f"{type(self).__qualname__}({', '.join([f'{n}={v!r}' for n, v in pairs])})"

    @property
    def is_request(self) -> bool:
        """True for a request, False for a response."""
        return self.method is not None

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case, compact or long form), or None."""
        return self._first.get(canonical_name(name))

    def header_all(self, name: str) -> list[str]:
        """Every value of header ``name`` in message order (comma-joined values not split)."""
        key = canonical_name(name)
        return [value for hname, value in self.headers if hname == key]

    @property
    def contact(self) -> NameAddr | None:
        """The first Contact, or None when absent, ``*`` or unreadable."""
        value = self._first.get("contact")
        if not value or value == "*":
            return None
        try:
            return _name_addr(split_commas(value)[0])
        except SipParseError:
            return None

    @property
    def via_count(self) -> int:
        """``len(self.vias)``, without building the Via values when they were not read yet
        (the tracker compares hop counts on every INVITE, CANCEL and failure)."""
        vias = self._vias
        if vias is not None:
            return len(vias)
        return sum([_via_count(value) for name, value in self.headers if name == "via"])

    @property
    def content_type(self) -> str | None:
        """The lower-case media type without parameters (``application/sdp``), or None."""
        value = self._first.get("content-type")
        if value is None:
            return None
        return value.partition(";")[0].strip().lower() or None


_REPR_NAMES: Final = (
    "method",
    "request_uri",
    "status",
    "reason",
    "headers",
    "body",
    "call_id",
    "cseq",
    "cseq_method",
    "from_",
    "to",
    "vias",
)
"""The names ``repr(SipMessage)`` shows, in the order of ``SipMessage._key()``."""


def canonical_name(name: str) -> str:
    """A header name as :attr:`SipMessage.headers` holds it: lower-case long form."""
    key = _names.get(name)
    if key is None:
        key = name.strip().lower()
        key = COMPACT_FORMS.get(key, key)
        if (
            key
            and len(_names) < _CACHE_LIMIT
            and len(name) <= CACHED_TEXT_MAX
            and name[:1] not in _FOLD_START
        ):
            _names[name] = key
    return key


def parse_via(value: str) -> tuple[Via, ...]:
    """Read one Via header value (possibly comma-joined); raise SipParseError."""
    return tuple(_via_one(part) for part in split_commas(value) if part.strip())


def parse_message(data: bytes | bytearray | memoryview) -> SipMessage:
    """Read one SIP message from its bytes; raise SipParseError when it is not one, or when
    it is longer than :data:`~callwatch.packet.MAX_MESSAGE` bytes."""
    if len(data) > MAX_MESSAGE:
        raise SipParseError(
            f"message too large: {len(data):,} bytes, more than the {MAX_MESSAGE:,} accepted"
        )
    try:
        return _parse(data if type(data) is bytes else bytes(data))
    except SipParseError:
        raise
    except (ValueError, LookupError, TypeError, AttributeError) as exc:  # pragma: no cover
        # Defence in depth: the fuzz tests check this line is never reached.
        raise SipParseError(f"internal parser error: {type(exc).__name__}: {exc}") from exc


def _parse(data: bytes) -> SipMessage:
    if data[:1] in _CRLF:
        data = data.lstrip(b"\r\n")
    lines, body_start = _header_lines(data)
    start = _starts.get(lines[0])
    if start is None:
        start = _start_line(lines[0])
    method, request_uri, status, reason = start

    try:
        headers: list[tuple[str, str]] = [
            _lines.get(line) or _header_line(line) for line in lines[1:]
        ]
    except _Irregular:
        headers = _irregular_headers(lines)
    first = dict(reversed(headers))

    call_id = first.get("call-id")
    if not call_id:
        raise SipParseError("missing Call-ID header")
    cseq_text = first.get("cseq")
    if cseq_text is None:
        raise SipParseError("missing CSeq header")
    cseq_pair = _cseqs.get(cseq_text)
    if cseq_pair is None:
        cseq_pair = _cseq(cseq_text)
    cseq, cseq_method = cseq_pair
    text = first.get("from")
    from_ = _name_addrs.get(text) if text is not None else None
    if from_ is None:
        from_ = _required_name_addr(text, "From")
    text = first.get("to")
    to = _name_addrs.get(text) if text is not None else None
    if to is None:
        to = _required_name_addr(text, "To")

    length = first.get("content-length")
    if length is not None and length.isdigit() and length.isascii() and len(length) <= 10:
        body = data[body_start : body_start + int(length)]
    else:
        body = data[body_start:]

    return _new_message(
        method,
        request_uri,
        status,
        reason,
        tuple(headers),
        body,
        call_id,
        cseq,
        cseq_method,
        from_,
        to,
        None,  # vias: read from the headers when first asked for
        first,
    )


def _remember(cache: dict[str, Any], text: str, value: Any) -> None:
    """Keep ``value`` as what ``text`` reads as, unless the text is too long to be worth it;
    a full cache is cleared first."""
    if len(text) <= CACHED_TEXT_MAX:
        if len(cache) >= _CACHE_LIMIT:
            cache.clear()
        cache[text] = value


class _Irregular(Exception):
    """Internal: a header line that is not plain ``name: value`` (folded, no colon, no name)."""


def _header_line(line: str) -> tuple[str, str]:
    """(canonical name, stripped value) of a plain header line; remembered, since most lines
    of a dialog repeat verbatim. Raises _Irregular for anything else."""
    name, sep, value = line.partition(":")
    if not sep or line[:1] in _FOLD_START:
        raise _Irregular
    key = canonical_name(name)
    if not key:
        raise _Irregular
    pair = (key, value.strip())
    if len(line) <= _LINE_TEXT_MAX:
        if len(_lines) >= _LINE_CACHE_LIMIT:
            _lines.clear()
        _lines[line] = pair
    return pair


def _irregular_headers(lines: list[str]) -> list[tuple[str, str]]:
    """The headers of a block with folded lines, lines without a colon or without a name.

    A folded header's continuation lines are collected and joined once at the end, each after
    one space: the work grows with the message, however many lines a header is folded over."""
    headers: list[tuple[str, str]] = []
    folds: dict[int, list[str]] = {}  # index in headers → its continuation lines, stripped
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if line[:1] in _FOLD_START and headers:  # continuation of a folded header
            part = line.strip()
            if part:
                index = len(headers) - 1
                more = folds.get(index)
                if more is None:
                    folds[index] = [part]
                else:
                    more.append(part)
            continue
        if not sep:
            continue  # no colon: not a header line; skipped
        key = canonical_name(name)
        if not key:
            continue  # ": value" with no name
        headers.append((key, value.strip()))
    for index, more in folds.items():
        last, text = headers[index]
        headers[index] = (last, " ".join([text, *more]))
    return headers


def _vias_of(headers: tuple[tuple[str, str], ...]) -> tuple[Via, ...]:
    """Every readable Via value of the headers, comma-joined ones split, top first."""
    vias: tuple[Via, ...] = ()
    for name, value in headers:
        if name == "via":
            vias += _vias.get(value) or _cached_vias(value)
    return vias


def _header_lines(data: bytes) -> tuple[list[str], int]:
    """The lines of the header block (start line first) and where the body starts.

    The block ends at the first empty line, whether lines end in CRLF, LF or a mix; without
    one, everything is header block and the body is empty.
    """
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        head = data[:end]
        try:
            text = head.decode()
        except UnicodeDecodeError:
            text = _decode_lines(head)
        lines = text.split("\r\n")
        if text.count("\n") == len(lines) - 1:  # CRLF throughout: the usual case
            return lines, end + 4
    # LF-only or mixed line ends: find the first empty line the slow way.
    crlf = data.find(b"\n\r\n")
    bare = data.find(b"\n\n", 0, crlf + 1 if crlf >= 0 else len(data))
    if bare >= 0:
        end, body_start = bare, bare + 2
    elif crlf >= 0:
        end, body_start = crlf, crlf + 3
    else:
        end = body_start = len(data)
    head = data[:end]
    try:
        text = head.decode()
    except UnicodeDecodeError:
        text = _decode_lines(head)
    return text.replace("\r\n", "\n").split("\n"), body_start


def _decode_lines(head: bytes) -> str:
    """Decode line by line: UTF-8 where valid, else Latin-1 (lossless, no lone surrogates)."""
    return "\n".join(_decode_line(line) for line in head.split(b"\n"))


def _decode_line(line: bytes) -> str:
    try:
        return line.decode()
    except UnicodeDecodeError:
        return line.decode("latin-1")


def _start_line(text: str) -> tuple[str | None, Uri | None, int | None, str | None]:
    """(method, Request-URI, status, reason) of a request or status line; remembered."""
    line = text.strip()
    if not line:
        raise SipParseError("empty message" if text == "" else "blank start line")
    if line[:4].upper() == "SIP/":
        parts = line.split(None, 2)
        code = parts[1] if len(parts) > 1 else ""
        if len(code) != 3 or not code.isdigit() or not code.isascii():
            raise SipParseError(f"bad status code in status line: {line[:80]!r}")
        start: tuple[str | None, Uri | None, int | None, str | None] = (
            None,
            None,
            int(code),
            parts[2] if len(parts) > 2 else "",
        )
    else:
        parts = line.split(None, 2)
        if len(parts) != 3 or parts[2][:4].upper() != "SIP/":
            raise SipParseError(f"not a SIP request or status line: {line[:80]!r}")
        try:
            uri = cached_uri(parts[1])
        except SipParseError as exc:
            raise SipParseError(f"bad Request-URI: {exc}") from None
        start = (parts[0].upper(), uri, None, None)
    _remember(_starts, text, start)
    return start


def _cseq(text: str) -> tuple[int, str]:
    """(number, METHOD) of a CSeq value; remembered."""
    parts = text.split()
    if len(parts) != 2 or not parts[0].isdigit() or not parts[0].isascii() or len(parts[0]) > 10:
        raise SipParseError(f"bad CSeq header (want 'number METHOD'): {text[:80]!r}")
    cseq = (int(parts[0]), parts[1].upper())
    _remember(_cseqs, text, cseq)
    return cseq


def _required_name_addr(value: str | None, name: str) -> NameAddr:
    if value is None:
        raise SipParseError(f"missing {name} header")
    try:
        return _name_addr(value)
    except SipParseError as exc:
        raise SipParseError(f"bad {name} header: {exc}") from None


def _name_addr(text: str) -> NameAddr:
    value = _name_addrs.get(text)
    if value is None:
        # "Name <uri>;tag=x": a new tag on a known address is the common miss (every new
        # dialog); read only the tag, share display and URI with the untagged address.
        tagged = _TAGGED.fullmatch(text)
        if tagged is not None:
            try:
                base = _name_addr(tagged[1])
            except SipParseError:
                base = None
            if base is not None and not base.params:
                value = _new_name_addr(base.display, base.uri, MappingProxyType({"tag": tagged[2]}))
        if value is None:
            value = parse_name_addr(text)
        _remember(_name_addrs, text, value)
    return value


def _cached_vias(text: str) -> tuple[Via, ...]:
    value = _vias.get(text)
    if value is None:
        value = tuple(_lenient_vias(text))
        _remember(_vias, text, value)
    return value


def _via_count(text: str) -> int:
    """How many readable Via values one header holds: ``len(_lenient_vias(text))``.

    Whether a value is readable depends only on its part before the first ``;`` (parameters
    never make it unreadable), and that part repeats from message to message where the
    branch does not: it is what is remembered."""
    count = 0
    for part in split_commas(text):
        head = part.strip().partition(";")[0]
        if not head:
            continue
        readable = _via_heads.get(head)
        if readable is None:
            try:
                _via_one(head)
                readable = True
            except SipParseError:
                readable = False
            _remember(_via_heads, head, readable)
        count += readable
    return count


def _lenient_vias(text: str) -> list[Via]:
    """The readable Via values of one header; unreadable ones are skipped (the header's
    text stays in :attr:`SipMessage.headers`)."""
    out: list[Via] = []
    for part in split_commas(text):
        if part.strip():
            try:
                out.append(_via_one(part))
            except SipParseError:
                continue
    return out


def _via_one(text: str) -> Via:
    head, semi, tail = text.strip().partition(";")
    params = _via_params(tail) if semi else _EMPTY
    bits = head.split()
    if len(bits) != 2:
        bits = head.rsplit(None, 1)  # "SIP / 2.0 / UDP host": LWS around the slashes
        if len(bits) != 2:
            raise SipParseError(f"Via without protocol and sent-by: {text.strip()[:80]!r}")
    protocol, sent_by = bits
    transport = protocol.rpartition("/")[2].strip().upper()
    if "/" not in protocol or not transport:
        raise SipParseError(f"Via without SIP/2.0/<transport>: {text.strip()[:80]!r}")
    host, port = split_host_port(sent_by)
    if not host:
        raise SipParseError(f"Via without a host: {text.strip()[:80]!r}")
    return Via(transport, host, port, params.get("branch"), params)


def _via_params(text: str) -> Mapping[str, str]:
    out: dict[str, str] = {}
    for item in text.split(";"):
        name, _, value = item.partition("=")
        name = name.strip().lower()
        if name:
            out[name] = value.strip().strip('"')
    return MappingProxyType(out)


# Construction fast path for the interpreter (a builder, see callwatch.frozen): the result is an
# ordinary SipMessage. Compiled, SipMessage.__init__ is already plain stores.


class _MessageBuilder:
    __slots__ = tuple([f.name for f in fields(SipMessage)])

    def __init__(
        self,
        method: str | None,
        request_uri: Uri | None,
        status: int | None,
        reason: str | None,
        headers: tuple[tuple[str, str], ...],
        body: bytes,
        call_id: str,
        cseq: int,
        cseq_method: str,
        from_: NameAddr,
        to: NameAddr,
        vias: tuple[Via, ...] | None,
        first: dict[str, str],
    ) -> None:
        self.method = method
        self.request_uri = request_uri
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.call_id = call_id
        self.cseq = cseq
        self.cseq_method = cseq_method
        self.from_ = from_
        self.to = to
        self._vias = vias
        self._first = first
        self.__class__ = _AS_MESSAGE


_AS_MESSAGE: Final = cast(type[_MessageBuilder], SipMessage)
"""SipMessage, typed as what a builder's ``__class__`` may be assigned."""
_new_message: Final = (
    SipMessage if runs_compiled(__file__) else cast(type[SipMessage], _MessageBuilder)
)
fast_init(SipMessage, SipMessage.__init__, _MessageBuilder.__init__)
fast_init(Via, Via.__init__)
