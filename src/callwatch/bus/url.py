"""Broker URLs: ``mqtt://[user:pass@]host[:port]`` and ``mqtts://...`` (TLS).

The default port is 1883 for ``mqtt`` and 8883 for ``mqtts``; an IPv6 host is written in
brackets (``mqtt://[::1]:1883``); user and password are percent-decoded. ``mqtts`` verifies
the broker's certificate against the system's trust store.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from callwatch.bus.errors import BusConfigError

_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True, slots=True)
class BrokerURL:
    """A parsed broker URL."""

    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def tls_context(self) -> ssl.SSLContext | None:
        """A verifying TLS context for ``mqtts``; None for plain ``mqtt``."""
        return ssl.create_default_context() if self.tls else None

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username else ""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{host}:{self.port}"


def parse_url(url: str) -> BrokerURL:
    """Parse a broker URL; :class:`BusConfigError` says what is wrong with a bad one."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        raise BusConfigError(f"broker URL {url!r}: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in _PORTS:
        raise BusConfigError(
            f"broker URL {url!r}: scheme must be mqtt:// or mqtts://, not {parts.scheme!r}"
        )
    if not parts.hostname:
        raise BusConfigError(f"broker URL {url!r} names no host (mqtt://HOST[:PORT])")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise BusConfigError(f"broker URL {url!r}: only mqtt[s]://[user:pass@]host[:port]")
    return BrokerURL(
        host=parts.hostname,
        port=port if port is not None else _PORTS[scheme],
        tls=scheme == "mqtts",
        username=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )
