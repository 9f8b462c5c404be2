"""Settings of the live service: the site file's ``[service]`` table, then the environment.

::

    [service]                              # every key optional
    data_dir = "/var/lib/callwatch"        # the embedded database and the spool live here
                                           # (a relative path is relative to the site file)
    database_url = "postgresql+psycopg://callwatch@db/callwatch"
    mqtt_url = "mqtt://broker:1883"        # no broker: nothing is published
    hep_host = "0.0.0.0"
    hep_port = 9060
    hep_allow = ["192.0.2.10/32", "10.1.0.0/16"]
    hep_auth_key = "secret"
    http_host = "0.0.0.0"
    http_port = 8080
    interface = "eth1"                     # sniff a mirror port instead of (as well as) HEP
    sip_ports = [5060, 5061]
    clock_skew_ms = 2000
    message_retention_days = 90            # raw SIP kept for the ladder view; 0 keeps it forever
    ami_url = "tcp://127.0.0.1:5038"       # Asterisk's manager (AMI): read it beside SIP
    public_url = "https://callwatch.example.go.kr"  # base of links in reports sent by mail

Every key has an environment variable that wins over the file: ``CALLWATCH_`` and the key in
capitals (``CALLWATCH_DATABASE_URL``, ``CALLWATCH_MQTT_URL``, ``CALLWATCH_HEP_PORT``,
``CALLWATCH_HTTP_PORT``, ``CALLWATCH_HEP_ALLOW`` as a comma-separated list,
``CALLWATCH_HEP_AUTH_KEY``, ``CALLWATCH_SPOOL_DIR``, ``CALLWATCH_DATA_DIR``, ...). An empty
variable counts as unset. With nothing set, the service runs on the embedded default: a SQLite
file under the data directory, no broker, HEP on 9060, HTTP on 8080.

The data directory is the same for every command, wherever it runs: ``$CALLWATCH_DATA_DIR``
(relative to the current directory), else ``data_dir`` of the site file (relative to the site
file), else :func:`default_data_dir`: ``/var/lib/callwatch`` when that directory exists and
this user may write it (a system install), else ``$XDG_DATA_HOME/callwatch``
(``~/.local/share/callwatch``). A relative ``spool_dir`` in the site file is relative to the
site file too. :meth:`Settings.origin` says where a value came from.

The manager's read-only user and its secret come from the environment only,
``CALLWATCH_AMI_USER`` and ``CALLWATCH_AMI_SECRET``, never from the site file; with
``ami_url`` unset (and no ``serve --ami``) the manager is not read.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from callwatch.capture.hep import HEP_PORT
from callwatch.sip.clock import CaptureClock

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SYSTEM_DATA_DIR = Path("/var/lib/callwatch")
DEMO_DATABASE = "demo.sqlite"
DEFAULT_HTTP_PORT = 8080
DEFAULT_SIP_PORTS = (5060, 5061)
DEFAULT_CLOCK_SKEW_MS = 2000
DEFAULT_RETENTION_DAYS = 90
DEFAULT_AMI_PORT = 5038
DEFAULT_AMI_URL = f"tcp://127.0.0.1:{DEFAULT_AMI_PORT}"
_ENV_ONLY = ("ami_user", "ami_secret")
"""Keys read from ``CALLWATCH_<KEY>`` only: the manager's credentials stay out of the file."""

_KEYS = (
    "data_dir",
    "database_url",
    "mqtt_url",
    "hep_host",
    "hep_port",
    "hep_allow",
    "hep_auth_key",
    "http_host",
    "http_port",
    "interface",
    "sip_ports",
    "spool_dir",
    "clock_skew_ms",
    "message_retention_days",
    "ami_url",
    "public_url",
)


def default_data_dir(
    environ: Mapping[str, str] | None = None, *, system: Path = SYSTEM_DATA_DIR
) -> Path:
    """The data directory when none is configured: ``system`` (``/var/lib/callwatch``) when it
    is a directory this user may write, else ``$XDG_DATA_HOME/callwatch`` (an absolute
    ``XDG_DATA_HOME`` only), else ``~/.local/share/callwatch``. Never the current directory."""
    env = os.environ if environ is None else environ
    if system.is_dir() and os.access(system, os.W_OK | os.X_OK):
        return system
    xdg = env.get("XDG_DATA_HOME", "").strip()
    if xdg and Path(xdg).is_absolute():
        return Path(xdg) / "callwatch"
    home = env.get("HOME", "").strip()
    base = Path(home) if home else Path.home()
    return base / ".local" / "share" / "callwatch"


class SettingsError(Exception):
    """Settings that cannot be used; ``problems`` lists every mistake found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("\n".join(self.problems))


@dataclass(frozen=True)
class Settings:
    """Where the service listens, stores and publishes."""

    data_dir: Path = field(default_factory=default_data_dir)
    database_url: str | None = None
    mqtt_url: str | None = None
    hep_host: str = "0.0.0.0"
    hep_port: int = HEP_PORT
    hep_allow: tuple[Network, ...] | None = None
    hep_auth_key: bytes | None = None
    http_host: str = "0.0.0.0"
    http_port: int = DEFAULT_HTTP_PORT
    interface: str | None = None
    sip_ports: tuple[int, ...] = DEFAULT_SIP_PORTS
    spool_dir: Path | None = None
    clock_skew_ms: int = DEFAULT_CLOCK_SKEW_MS
    message_retention_days: int = DEFAULT_RETENTION_DAYS
    ami_url: str | None = None
    ami_user: str | None = None
    ami_secret: str | None = field(default=None, repr=False)
    public_url: str | None = None
    """The address users reach the pages at (``https://host[/prefix]``): reports link to calls
    under it, so links work in a file sent by mail. None: the address of the request."""
    origins: tuple[tuple[str, str], ...] = field(default=(), compare=False, repr=False)

    def origin(self, key: str) -> str:
        """Where the value of ``key`` came from: ``FILE: service.KEY``, the variable's name,
        ``command line``, or ``default``."""
        return dict(self.origins).get(key, "default")

    def describe_store(self) -> str:
        """One line naming the database (password hidden) and the data directory, each with
        where it came from: what every command that opens the store prints first."""
        where = f"data directory {self.data_dir} (from {self.origin('data_dir')})"
        if self.database_url:
            return (
                f"database {_hide_password(self.database_url)} (from "
                f"{self.origin('database_url')}); {where}"
            )
        return f"database {self.store_url}; {where}"

    def for_demo(self) -> Settings:
        """These settings on the demo's own database, ``DATA_DIR/demo.sqlite`` (never a
        configured database): what ``serve --demo`` serves and ``--demo`` of the other
        commands opens."""
        url = f"sqlite:///{(self.data_dir / DEMO_DATABASE).resolve()}"
        origins = (*self.origins, ("database_url", "--demo"))
        return replace(self, database_url=url, origins=origins)

    @property
    def store_url(self) -> str:
        """The database URL; the embedded default is ``sqlite:///DATA_DIR/callwatch.sqlite``."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'callwatch.sqlite').resolve()}"

    @property
    def spool_path(self) -> Path:
        """The spool directory (default ``DATA_DIR/spool``)."""
        return self.spool_dir if self.spool_dir is not None else self.data_dir / "spool"

    def capture_clock(self) -> CaptureClock:
        """A pipeline clock with this site's skew allowance (``serve`` and ``collect``)."""
        return CaptureClock(skew=self.clock_skew_ms * 1000)

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with the given values (None values are ignored), checked like the rest."""
        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            return self
        problems: list[str] = []
        checked = {k: _convert(k, v, "command line", problems) for k, v in given.items()}
        if problems:
            raise SettingsError(problems)
        origins = (*self.origins, *((k, "command line") for k in checked))
        return replace(self, **checked, origins=origins)


def load_settings(
    site_file: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from ``site_file``'s ``[service]`` table overridden by ``environ``.

    Raises :class:`SettingsError` listing every bad value (file key or variable named).
    """
    env = os.environ if environ is None else environ
    problems: list[str] = []
    raw: dict[str, tuple[Any, str]] = {}
    if site_file is not None:
        table = _service_table(Path(site_file), problems)
        for key, value in table.items():
            if key in _ENV_ONLY:
                var = f"CALLWATCH_{key.upper()}"
                problems.append(f"{site_file}: service.{key}: set it in the environment ({var})")
            elif key not in _KEYS:
                problems.append(f"{site_file}: service.{key}: unknown key")
            else:
                raw[key] = (value, f"{site_file}: service.{key}")
    for key in (*_KEYS, *_ENV_ONLY):
        var = f"CALLWATCH_{key.upper()}"
        value = env.get(var)
        if value is not None and value.strip():
            raw[key] = (value.strip(), var)
    values = {key: _convert(key, value, where, problems) for key, (value, where) in raw.items()}
    if problems:
        raise SettingsError(problems)
    for key in ("data_dir", "spool_dir"):
        if key in values:
            from_file = site_file is not None and raw[key][1].startswith(f"{site_file}:")
            base = Path(site_file).parent if site_file is not None and from_file else None
            values[key] = _absolute(values[key], base)
    if "data_dir" not in values:
        values["data_dir"] = default_data_dir(env)
    origins = tuple((key, where) for key, (_, where) in raw.items())
    return Settings(**values, origins=origins)


def _absolute(path: Path, base: Path | None) -> Path:
    """``path`` made absolute: relative to ``base`` (the site file's folder) when given, else
    to the current directory (a variable set in this shell)."""
    path = path.expanduser()
    if not path.is_absolute():
        path = (base if base is not None else Path.cwd()) / path
    return Path(os.path.abspath(path))


def _hide_password(url: str) -> str:
    """``url`` with the password of its ``user:password@`` part replaced by ``***``."""
    scheme, sep, rest = url.partition("://")
    auth, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in auth:
        return url
    return f"{scheme}://{auth.split(':', 1)[0]}:***@{host}"


def _service_table(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        problems.append(f"{path}: cannot read: {exc.strerror}")
        return {}
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        problems.append(f"{path}: not valid TOML: {exc}")
        return {}
    table = data.get("service", {})
    if not isinstance(table, dict):
        problems.append(f"{path}: service: must be a table [service]")
        return {}
    return table


def _convert(key: str, value: Any, where: str, problems: list[str]) -> Any:
    try:
        return _CONVERTERS[key](value)
    except (TypeError, ValueError) as exc:
        problems.append(f"{where}: {exc}")
        return None


def _port(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a port number")
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise ValueError(f"{port} is not a port number (0-65535)")
    return port


def _items(value: Any) -> list[Any]:
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        return list(value)
    raise TypeError(f"{value!r} must be a list (or comma-separated text)")


def _allow(value: Any) -> tuple[Network, ...]:
    networks = []
    for item in _items(value):
        try:
            networks.append(ipaddress.ip_network(str(item), strict=False))
        except ValueError:
            raise ValueError(f"{item!r} is not an IP address or network like 10.0.0.0/8") from None
    return tuple(networks)


def _ports(value: Any) -> tuple[int, ...]:
    ports = tuple(_port(item) for item in _items(value))
    if not ports:
        raise ValueError("needs at least one port")
    return ports


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"{value!r} must be non-empty text")
    return value.strip()


def _url(value: Any) -> str:
    text = _text(value)
    if "://" not in text:
        raise ValueError(f"{text!r} is not a URL (scheme://...)")
    return text


def _mqtt_url(value: Any) -> str:
    text = _url(value)
    if text.split("://", 1)[0] not in ("mqtt", "mqtts", "tcp"):
        raise ValueError(f"{text!r} is not an MQTT URL (mqtt://host:1883)")
    return text


def parse_ami_url(url: str) -> tuple[str, int]:
    """``tcp://host:port`` (port 5038 when left out; IPv6 in brackets) → (host, port);
    ValueError for anything else."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() != "tcp":
        raise ValueError(f"{url!r} is not a manager (AMI) URL (tcp://127.0.0.1:5038)")
    rest = rest.rstrip("/")
    if rest.startswith("["):
        host, _, tail = rest[1:].partition("]")
        port = tail.removeprefix(":")
    else:
        host, _, port = rest.partition(":")
    if not host:
        raise ValueError(f"{url!r} names no host")
    if not port:
        return host, DEFAULT_AMI_PORT
    if not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"{url!r}: {port!r} is not a port number")
    return host, int(port)


def _ami_url(value: Any) -> str:
    text = _text(value)
    parse_ami_url(text)
    return text


def _key(value: Any) -> bytes:
    return _text(value).encode()


def _skew(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a number of milliseconds")
    try:
        skew = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number of milliseconds") from None
    if not 0 <= skew <= 600_000:
        raise ValueError(f"{skew} ms is not a clock skew allowance (0-600000)")
    return skew


def _days(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a number of days")
    try:
        days = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number of days") from None
    if days < 0:
        raise ValueError(f"{days} days: must be 0 (keep forever) or more")
    return days


def _public_url(value: Any) -> str:
    text = _text(value).rstrip("/")
    scheme, _, rest = text.partition("://")
    if scheme not in ("http", "https") or not rest or any(c in rest for c in "?#{} "):
        raise ValueError(f"{text!r} is not a public base URL (https://host[/prefix])")
    return text


_CONVERTERS = {
    "data_dir": lambda v: Path(_text(v)),
    "spool_dir": lambda v: Path(_text(v)),
    "database_url": _url,
    "mqtt_url": _mqtt_url,
    "hep_host": _text,
    "hep_port": _port,
    "hep_allow": _allow,
    "hep_auth_key": _key,
    "http_host": _text,
    "http_port": _port,
    "interface": _text,
    "sip_ports": _ports,
    "clock_skew_ms": _skew,
    "message_retention_days": _days,
    "ami_url": _ami_url,
    "ami_user": _text,
    "ami_secret": _text,
    "public_url": _public_url,
}
