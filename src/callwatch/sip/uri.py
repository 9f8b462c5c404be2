"""SIP URIs, name-addr values and the Replaces header (RFC 3261 §19.1 and §25.1, RFC 3966,
RFC 3891).

The grammar here is read leniently, the way a capture tool has to: what a PBX or phone really
sends is accepted, and only text that has no usable meaning raises :class:`SipParseError`.

* ``sip:``/``sips:`` URIs give user (%-unescaped; ``user=phone`` separators such as ``-`` or
  ``(`` kept), host (lower-case, IPv6 without its brackets), port, parameters and ``?headers``.
  A port that is not a number in 0..65535 is read as ``None``; an empty host (sipp sends
  ``sip:1001@:5060`` when it lacks a remote address) as ``None`` when there is a user.
* ``tel:`` URIs give the number as ``user`` and no host.
* Any other scheme keeps only the scheme and the raw text (``Uri.raw``).
* Parameter names are lower-case; values keep their case (quoted values are unquoted).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Final, cast
from urllib.parse import unquote

from callwatch.fieldpickle import pickle_by_fields
from callwatch.frozen import fast_init, runs_compiled


class SipParseError(ValueError):
    """SIP text that cannot be read; the message names what is wrong and where."""


_EMPTY: Final[Mapping[str, str]] = MappingProxyType({})
_SCHEME_CHARS: Final = frozenset("abcdefghijklmnopqrstuvwxyz0123456789+-.")
_CACHE_LIMIT: Final = 4096
CACHED_TEXT_MAX: Final = 512
"""Longest text (in characters) whose reading the parser's caches remember. Real header lines
are far shorter; longer ones are read afresh each time, so the caches cannot be made to hold
more than their entry limit times this."""


def _no_params() -> Mapping[str, str]:
    return _EMPTY


class _UriHeaders(Mapping[str, str]):
    """The ``?name=value&...`` part of a URI: read-only, names looked up in any case."""

    __slots__ = ("_items",)

    def __init__(self, items: dict[str, str]) -> None:
        self._items = items

    def __getitem__(self, key: str) -> str:
        return self._items[key.lower()]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return repr(self._items)


@dataclass(frozen=True, slots=True, init=False)
class Uri:
    """A URI as found in a Request-URI, From, To, Contact or Refer-To.

    ``params`` are the ``;name=value`` URI parameters (``lr``-style flags map to ``""``);
    ``headers`` the ``?name=value`` part, unescaped, looked up in any case
    (``uri.headers["Replaces"]``). ``raw`` is the text the URI was read from.
    """

    scheme: str
    user: str | None
    host: str | None
    port: int | None
    params: Mapping[str, str] = field(default_factory=_no_params, hash=False)
    headers: Mapping[str, str] = field(default_factory=_no_params, hash=False)
    raw: str = field(default="", compare=False)

    def __init__(
        self,
        scheme: str,
        user: str | None,
        host: str | None,
        port: int | None,
        params: Mapping[str, str] = _EMPTY,
        headers: Mapping[str, str] = _EMPTY,
        raw: str = "",
    ) -> None:
        # Written out (the dataclass would generate the same): compiled, these are plain stores.
        object.__setattr__(self, "scheme", scheme)
        object.__setattr__(self, "user", user)
        object.__setattr__(self, "host", host)
        object.__setattr__(self, "port", port)
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "raw", raw)

    def __str__(self) -> str:
        return self.raw


@dataclass(frozen=True, slots=True, init=False)
class NameAddr:
    """A From/To/Contact/Refer-To value: optional display name, URI, header parameters.

    ``params`` are the header parameters after the URI (``tag``, ``expires``...), never
    the URI's own parameters.
    """

    display: str | None
    uri: Uri
    params: Mapping[str, str] = field(default_factory=_no_params, hash=False)

    def __init__(self, display: str | None, uri: Uri, params: Mapping[str, str] = _EMPTY) -> None:
        object.__setattr__(self, "display", display)
        object.__setattr__(self, "uri", uri)
        object.__setattr__(self, "params", params)

    @property
    def tag(self) -> str | None:
        """The ``tag`` parameter (From/To), or None."""
        return self.params.get("tag")

    @property
    def user(self) -> str | None:
        """The URI's user part (the extension or number), or None."""
        return self.uri.user


@dataclass(frozen=True, slots=True)
class Replaces:
    """A Replaces header value (RFC 3891): the dialog an INVITE or transfer replaces."""

    call_id: str
    to_tag: str | None
    from_tag: str | None
    early_only: bool


def parse_uri(text: str) -> Uri:
    """Read a URI (``sip:``, ``sips:``, ``tel:`` or any other scheme); raise SipParseError."""
    raw = text.strip()
    colon = raw.find(":")
    if colon <= 0:
        raise SipParseError(f"not a URI (no scheme): {raw[:80]!r}")
    scheme = raw[:colon].lower()
    if scheme == "sip" or scheme == "sips":
        return _sip_uri(scheme, raw[colon + 1 :], raw)
    if scheme == "tel":
        return _tel_uri(raw[colon + 1 :], raw)
    if not scheme[0].isalpha() or not _SCHEME_CHARS.issuperset(scheme):
        raise SipParseError(f"not a URI (bad scheme {scheme[:20]!r}): {raw[:80]!r}")
    return Uri(scheme, None, None, None, _EMPTY, _EMPTY, raw)


def cached_uri(text: str) -> Uri:
    """:func:`parse_uri`, remembering the last few thousand results (Uri is immutable)."""
    uri = _uri_cache.get(text)
    if uri is None:
        uri = parse_uri(text)
        if len(text) <= CACHED_TEXT_MAX:
            if len(_uri_cache) >= _CACHE_LIMIT:
                _uri_cache.clear()
            _uri_cache[text] = uri
    return uri


def parse_name_addr(text: str) -> NameAddr:
    """Read ``"Display" <uri>;params``, ``Display <uri>`` or ``uri;params`` (addr-spec form,
    where everything after the first ``;`` is a header parameter); raise SipParseError."""
    s = text.strip()
    if not s:
        raise SipParseError("empty name-addr")
    display: str | None
    if s[0] == '"':
        display, end = _quoted(s, 0)
        lt = s.find("<", end)
        if lt < 0:
            raise SipParseError(f"quoted display name without <URI>: {s[:80]!r}")
        display = display or None
    else:
        lt = s.find("<")
        display = (s[:lt].strip() or None) if lt > 0 else None
    if lt >= 0:
        gt = s.find(">", lt)
        if gt < 0:
            raise SipParseError(f"'<' without '>': {s[:80]!r}")
        uri = cached_uri(s[lt + 1 : gt])
        tail = s[gt + 1 :]
    else:
        semi = s.find(";")
        if semi < 0:
            return _new_name_addr(None, cached_uri(s), _EMPTY)
        uri = cached_uri(s[:semi])
        tail = s[semi:]
    semi = tail.find(";")
    params = _params(tail[semi + 1 :]) if semi >= 0 else _EMPTY
    return _new_name_addr(display, uri, params)


def parse_replaces(text: str) -> Replaces:
    """Read a Replaces value: ``call-id;to-tag=..;from-tag=..[;early-only]``."""
    call_id, _, rest = text.strip().partition(";")
    call_id = call_id.strip()
    if not call_id:
        raise SipParseError(f"Replaces without a Call-ID: {text[:80]!r}")
    params = _params(rest) if rest else _EMPTY
    return Replaces(
        call_id,
        params.get("to-tag") or None,
        params.get("from-tag") or None,
        "early-only" in params,
    )


def split_commas(value: str) -> list[str]:
    """Split a comma-joined header value, ignoring commas in quotes, ``<...>`` or escapes."""
    if "," not in value:
        return [value]
    if '"' not in value and "<" not in value:
        return value.split(",")
    parts: list[str] = []
    start = 0
    quoted = False
    angle = False
    i = 0
    n = len(value)
    while i < n:
        ch = value[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == "<":
            angle = True
        elif ch == ">":
            angle = False
        elif ch == "," and not angle:
            parts.append(value[start:i])
            start = i + 1
        i += 1
    parts.append(value[start:])
    return parts


def split_host_port(text: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` or ``[v6][:port]``; host lower-case, IPv6 without brackets.

    A port that is not a number in 0..65535 is read as None."""
    if text[:1] == "[" or text[:1].isspace():
        text = text.strip()
        if text[:1] == "[":
            end = text.find("]")
            if end < 0:
                raise SipParseError(f"IPv6 reference without ']': {text[:80]!r}")
            rest = text[end + 1 :]
            return text[1:end].lower(), _port(rest[1:]) if rest[:1] == ":" else None
    host, _, port_text = text.partition(":")
    return host.strip().lower(), _port(port_text) if port_text else None


def _port(text: str) -> int | None:
    if not text.isdigit() or not text.isascii() or len(text) > 5:
        text = text.strip()
        if not text.isdigit() or not text.isascii() or len(text) > 5:
            return None
    port = int(text)
    return port if port <= 65535 else None


def _sip_uri(scheme: str, rest: str, raw: str) -> Uri:
    q = rest.find("?")
    if q >= 0:
        headers: Mapping[str, str] = _uri_headers(rest[q + 1 :])
        rest = rest[:q]
    else:
        headers = _EMPTY
    at = rest.rfind("@")
    user: str | None = None
    if at >= 0:
        user = rest[:at]
        colon = user.find(":")
        if colon >= 0:
            user = user[:colon]
        if "%" in user:
            user = unquote(user)
        user = user or None
        rest = rest[at + 1 :]
    semi = rest.find(";")
    if semi >= 0:
        params = _params(rest[semi + 1 :])
        rest = rest[:semi]
    else:
        params = _EMPTY
    host, port = split_host_port(rest)
    if not host:
        if user is None:
            raise SipParseError(f"SIP URI without user or host: {raw[:80]!r}")
        return Uri(scheme, user, None, port, params, headers, raw)  # "sip:2001@:5060"
    return Uri(scheme, user, host, port, params, headers, raw)


def _tel_uri(rest: str, raw: str) -> Uri:
    number, _, tail = rest.partition(";")
    number = number.strip()
    if "%" in number:
        number = unquote(number)
    if not number:
        raise SipParseError(f"tel URI without a number: {raw[:80]!r}")
    return Uri("tel", number, None, None, _params(tail) if tail else _EMPTY, _EMPTY, raw)


def _params(text: str) -> Mapping[str, str]:
    """``a=1;b;c="x;y"`` (text after the first ``;``) → read-only mapping, names lower-case."""
    out: dict[str, str] = {}
    for item in text.split(";") if '"' not in text else _split_semis(text):
        name, _, value = item.partition("=")
        name = name.strip().lower()
        if name:
            value = value.strip()
            if value[:1] == '"':
                value = _quoted(value, 0)[0]
            out[name] = value
    return MappingProxyType(out) if out else _EMPTY


def _split_semis(text: str) -> list[str]:
    parts: list[str] = []
    start = 0
    quoted = False
    i = 0
    n = len(text)
    while i < n:
        ch = text[i]
        if quoted:
            if ch == "\\":
                i += 1
            elif ch == '"':
                quoted = False
        elif ch == '"':
            quoted = True
        elif ch == ";":
            parts.append(text[start:i])
            start = i + 1
        i += 1
    parts.append(text[start:])
    return parts


def _uri_headers(text: str) -> _UriHeaders:
    out: dict[str, str] = {}
    for item in text.split("&"):
        name, _, value = item.partition("=")
        name = unquote(name).strip().lower()
        if name:
            out[name] = unquote(value)
    return _UriHeaders(out)


def _quoted(s: str, start: int) -> tuple[str, int]:
    """Read the quoted-string opening at ``s[start]``: (unescaped text, index after it).

    An unterminated string runs to the end of the text.
    """
    end = s.find('"', start + 1)
    if end >= 0 and "\\" not in s[start + 1 : end]:
        return s[start + 1 : end], end + 1
    chars: list[str] = []
    i = start + 1
    n = len(s)
    while i < n:
        ch = s[i]
        if ch == "\\" and i + 1 < n:
            chars.append(s[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(chars), i + 1
        chars.append(ch)
        i += 1
    return "".join(chars), n


_uri_cache: Final[dict[str, Uri]] = {}


# Construction fast path for the interpreter (a builder, see callwatch.frozen): a new From/To
# tag makes a NameAddr for every new dialog. Compiled, NameAddr itself is used.


class _NameAddrBuilder:
    __slots__ = tuple([f.name for f in fields(NameAddr)])

    def __init__(self, display: str | None, uri: Uri, params: Mapping[str, str]) -> None:
        self.display = display
        self.uri = uri
        self.params = params
        self.__class__ = _AS_NAME_ADDR


_AS_NAME_ADDR: Final = cast(type[_NameAddrBuilder], NameAddr)
"""NameAddr, typed as what a builder's ``__class__`` may be assigned."""
_new_name_addr: Final = (
    NameAddr if runs_compiled(__file__) else cast(type[NameAddr], _NameAddrBuilder)
)
fast_init(NameAddr, _NameAddrBuilder.__init__)


# events may carry parsed addresses: by field values (fieldpickle)
pickle_by_fields(Uri, NameAddr, Replaces)
