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
    clock_ahead_s = 300                    # packets stamped further ahead of our clock are refused
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
``ami_url`` unset (and no ``serve --ami``) the manager is not read. So does the probe's
account name, ``CALLWATCH_PROBE_USER`` (``probe_user``): the calls from that number are the
probe's own, tagged and left out of the figures (:mod:`callwatch.probe.tagging`).

The keys are one pydantic model, :class:`ServiceValues`, whatever their source: the file's
values, the variables' text and the command line's values go through the same validators,
and a mistake names its source (``site.toml:12: service.hep_port``, ``CALLWATCH_HEP_PORT``,
``command line``). The result is the plain :class:`Settings`.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, PlainValidator, ValidationError

from callwatch.capture.hep import HEP_PORT
from callwatch.sip.clock import CaptureClock
from callwatch.validation import fail, line_map, line_of, problems

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

SYSTEM_DATA_DIR = Path("/var/lib/callwatch")
DEMO_DATABASE = "demo.sqlite"
DEFAULT_HTTP_PORT = 8080
DEFAULT_SIP_PORTS = (5060, 5061)
DEFAULT_CLOCK_SKEW_MS = 2000
DEFAULT_CLOCK_AHEAD_S = 300
DEFAULT_RETENTION_DAYS = 90
DEFAULT_AMI_PORT = 5038
DEFAULT_AMI_URL = f"tcp://127.0.0.1:{DEFAULT_AMI_PORT}"
_ENV_ONLY = ("ami_user", "ami_secret", "probe_user")
"""Keys read from ``CALLWATCH_<KEY>`` only: accounts and their secrets stay out of the file."""


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
    clock_ahead_s: int = DEFAULT_CLOCK_AHEAD_S
    """How far ahead of this host's clock a packet may be stamped before the core refuses it
    (:class:`~callwatch.sip.clock.CaptureClock`'s ``max_ahead``)."""
    message_retention_days: int = DEFAULT_RETENTION_DAYS
    ami_url: str | None = None
    ami_user: str | None = None
    ami_secret: str | None = field(default=None, repr=False)
    probe_user: str | None = None
    """The probe's PBX account, a phone number: calls from it are tagged as probe calls."""
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
        """A pipeline clock with this site's allowances (``serve`` and ``collect``)."""
        ahead = self.clock_ahead_s * 1_000_000
        return CaptureClock(skew=self.clock_skew_ms * 1000, max_ahead=ahead)

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with the given values (None values are ignored), checked like the rest."""
        given = {k: v for k, v in values.items() if v is not None}
        if not given:
            return self
        checked = _check({k: (v, "command line") for k, v in given.items()})
        origins = (*self.origins, *((k, "command line") for k in checked))
        return replace(self, **checked, origins=origins)

    @property
    def probe_callers(self) -> frozenset[str]:
        """The probe's caller numbers: ``probe_user`` when set, else none."""
        return frozenset() if self.probe_user is None else frozenset([self.probe_user])


def load_settings(
    site_file: str | Path | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from ``site_file``'s ``[service]`` table overridden by ``environ``.

    Raises :class:`SettingsError` listing every bad value (file key and line, or variable).
    """
    env = os.environ if environ is None else environ
    found: list[str] = []
    raw: dict[str, tuple[Any, str]] = {}
    if site_file is not None:
        table, lines = _service_table(Path(site_file), found)
        for key, value in table.items():
            line = line_of(lines, f"service.{key}")
            where = f"{site_file}:{line}: service.{key}" if line else f"{site_file}: service.{key}"
            if key in _ENV_ONLY:
                var = f"CALLWATCH_{key.upper()}"
                found.append(f"{where}: set it in the environment ({var})")
            else:
                raw[key] = (value, where)
    for key in ServiceValues.model_fields:
        var = f"CALLWATCH_{key.upper()}"
        value = env.get(var)
        if value is not None and value.strip():
            raw[key] = (value.strip(), var)
    try:
        values = _check(raw)
    except SettingsError as exc:
        found.extend(exc.problems)
    if found:
        raise SettingsError(found)
    for key in ("data_dir", "spool_dir"):
        if key in values:
            from_file = site_file is not None and raw[key][1].startswith(f"{site_file}:")
            base = Path(site_file).parent if site_file is not None and from_file else None
            values[key] = _absolute(values[key], base)
    if "data_dir" not in values:
        values["data_dir"] = default_data_dir(env)
    origins = tuple((key, _origin(where)) for key, (_, where) in raw.items())
    return Settings(**values, origins=origins)


def _origin(where: str) -> str:
    """``site.toml:12: service.hep_port`` → ``site.toml: service.hep_port`` (what
    :meth:`Settings.origin` says)."""
    head, sep, key = where.rpartition(": service.")
    if not sep:
        return where
    path, colon, line = head.rpartition(":")
    return f"{path if colon and line.isdigit() else head}: service.{key}"


def _check(raw: Mapping[str, tuple[Any, str]]) -> dict[str, Any]:
    """The values of ``raw`` (key → value and where it was given) checked by
    :class:`ServiceValues`; :class:`SettingsError` names each bad one by where it was given."""
    try:
        checked = ServiceValues.model_validate({key: value for key, (value, _) in raw.items()})
    except ValidationError as exc:
        found = []
        for key, message in problems(exc, ServiceValues):
            where = raw[key.split(".")[0].split("[")[0]][1]
            found.append(f"{where}: {message}")
        raise SettingsError(found) from None
    return {key: getattr(checked, key) for key in raw}


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


def _service_table(path: Path, found: list[str]) -> tuple[dict[str, Any], dict[str, int]]:
    """The ``[service]`` table of the file at ``path`` and the lines of its keys."""
    try:
        text = path.read_text(encoding="utf-8")
        data = tomllib.loads(text)
    except OSError as exc:
        found.append(f"{path}: cannot read: {exc.strerror}")
        return {}, {}
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        found.append(f"{path}: not valid TOML: {exc}")
        return {}, {}
    table = data.get("service", {})
    if not isinstance(table, dict):
        found.append(f"{path}: service: must be a table [service]")
        return {}, {}
    return table, line_map(text)


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


def _ahead(value: Any) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{value!r} is not a number of seconds")
    try:
        ahead = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a number of seconds") from None
    if not 1 <= ahead <= 86_400:
        raise ValueError(f"{ahead} s is not an allowance ahead of the clock (1-86400)")
    return ahead


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


def _checked(convert: Callable[[Any], Any]) -> PlainValidator:
    """``convert`` as a pydantic validator: its TypeError or ValueError is the message."""

    def check(value: Any) -> Any:
        try:
            return convert(value)
        except (TypeError, ValueError) as exc:
            raise fail(str(exc)) from None

    return PlainValidator(check)


def _path(value: Any) -> Path:
    return Path(_text(value))


class ServiceValues(BaseModel):
    """Every setting, each optional, as the file, a variable or the command line gives it
    (a variable's text is read like the file's value: ``"9060"``, ``"10.0.0.0/8, ::1"``)."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, arbitrary_types_allowed=True, defer_build=True
    )

    data_dir: Annotated[Path | None, _checked(_path)] = None
    database_url: Annotated[str | None, _checked(_url)] = None
    mqtt_url: Annotated[str | None, _checked(_mqtt_url)] = None
    hep_host: Annotated[str | None, _checked(_text)] = None
    hep_port: Annotated[int | None, _checked(_port)] = None
    hep_allow: Annotated[tuple[Network, ...] | None, _checked(_allow)] = None
    hep_auth_key: Annotated[bytes | None, _checked(_key)] = None
    http_host: Annotated[str | None, _checked(_text)] = None
    http_port: Annotated[int | None, _checked(_port)] = None
    interface: Annotated[str | None, _checked(_text)] = None
    sip_ports: Annotated[tuple[int, ...] | None, _checked(_ports)] = None
    spool_dir: Annotated[Path | None, _checked(_path)] = None
    clock_skew_ms: Annotated[int | None, _checked(_skew)] = None
    clock_ahead_s: Annotated[int | None, _checked(_ahead)] = None
    message_retention_days: Annotated[int | None, _checked(_days)] = None
    ami_url: Annotated[str | None, _checked(_ami_url)] = None
    public_url: Annotated[str | None, _checked(_public_url)] = None
    ami_user: Annotated[str | None, _checked(_text)] = None
    ami_secret: Annotated[str | None, _checked(_text)] = None
    probe_user: Annotated[str | None, _checked(_text)] = None
