"""MQTT topic names of a site, and the department a leg event is filed under.

::

    callwatch/<site>/events/<department>     leg events                       QoS 1
    callwatch/<site>/breaches/<department>   failed charter verdicts          QoS 1
    callwatch/<site>/calls/<department>      full judged calls (for workers)  QoS 1
    callwatch/<site>/callbacks/<department>  callback news (for workers)      QoS 1
    callwatch/<site>/status                  {"state": "online"|"offline"}    QoS 1, retained
    callwatch/<site>/monitoring              probe alerts ("alert"|"clear")   QoS 1, retained
    callwatch/<site>/monitoring/breaches/<department>
                                             probe calls' failed verdicts     QoS 1
    callwatch/<site>/workers/<identifier>    a worker's state (hand-over)     QoS 1, retained
    callwatch/<site>/workers/<identifier>/sync   a worker's own markers       QoS 1

Topics are UTF-8, so Korean department names are used as they are (``.../events/민원``).
A level must not hold ``/`` (the level separator), ``+`` or ``#`` (wildcards) or NUL, and
control characters are unwise; :func:`encode_level` writes each of those, and ``%`` itself,
as ``%XX`` per UTF-8 byte (percent-encoding, as in URLs), so ``a/b`` becomes ``a%2Fb`` and
:func:`decode_level` gives the name back. A call or event with no department goes to
:data:`UNASSIGNED` (``_unassigned``); an empty name does too.

``calls`` and ``callbacks`` carry unmasked numbers (the store needs them): restrict them to
workers with the broker's ACL. ``events`` and ``breaches`` carry masked numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from callwatch.calls.directory import Directory
from callwatch.sip.events import LegEvent, Offered

UNASSIGNED = "_unassigned"
ROOT = "callwatch"

_KINDS = ("events", "breaches", "calls", "callbacks")


def _must_escape(ch: str) -> bool:
    code = ord(ch)
    return ch in "%/+#" or code < 0x20 or 0x7F <= code <= 0x9F


def encode_level(name: str | None) -> str:
    """One topic level for ``name``: ``+ # / % NUL`` and control characters percent-encoded;
    None or empty → ``_unassigned``."""
    if not name:
        return UNASSIGNED
    if not any(_must_escape(ch) for ch in name):
        return name
    return "".join(
        "".join(f"%{b:02X}" for b in ch.encode("utf-8")) if _must_escape(ch) else ch for ch in name
    )


def decode_level(level: str) -> str:
    """The name :func:`encode_level` encoded (``_unassigned`` stays as it is)."""
    return unquote(level, encoding="utf-8", errors="strict")


@dataclass(frozen=True, slots=True)
class Topics:
    """The topic names of one site."""

    site: str

    @property
    def base(self) -> str:
        return f"{ROOT}/{encode_level(self.site)}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def monitoring(self) -> str:
        """Where the ``monitoring`` alerts go (a probe call the capture did not confirm)."""
        return f"{self.base}/monitoring"

    def probe_breaches(self, department: str | None) -> str:
        """Where the failed verdicts of probe calls go (never among the staff's breaches)."""
        return f"{self.monitoring}/breaches/{encode_level(department)}"

    def events(self, department: str | None) -> str:
        return f"{self.base}/events/{encode_level(department)}"

    def breaches(self, department: str | None) -> str:
        return f"{self.base}/breaches/{encode_level(department)}"

    def calls(self, department: str | None) -> str:
        return f"{self.base}/calls/{encode_level(department)}"

    def callbacks(self, department: str | None) -> str:
        return f"{self.base}/callbacks/{encode_level(department)}"

    def filter(self, kind: str) -> str:
        """The wildcard filter of every department of ``kind`` (``events``, ``breaches``...)."""
        if kind not in _KINDS:
            raise ValueError(f"unknown topic kind {kind!r} (one of {', '.join(_KINDS)})")
        return f"{self.base}/{kind}/#"

    def worker(self, identifier: str) -> str:
        """The retained state topic of the worker session ``identifier``."""
        return f"{self.base}/workers/{encode_level(identifier)}"

    @property
    def workers(self) -> str:
        """The filter of every worker's state topic."""
        return f"{self.base}/workers/+"

    def worker_sync(self, identifier: str) -> str:
        """The topic a worker session sends markers to itself on (see :mod:`.handover`)."""
        return f"{self.worker(identifier)}/sync"

    def parse(self, topic: str) -> tuple[str, str] | None:
        """``(kind, rest)`` of one of this site's topics, e.g. ``("workers", "w1/sync")``.

        None for a topic of another site or a malformed one.
        """
        prefix = f"{self.base}/"
        if not topic.startswith(prefix):
            return None
        kind, _, rest = topic[len(prefix) :].partition("/")
        return kind, rest

    def shared(self, group: str, kind: str) -> str:
        """The shared-subscription filter ``$share/<group>/callwatch/<site>/<kind>/#``."""
        return f"$share/{encode_level(group)}/{self.filter(kind)}"


def event_department(event: LegEvent, directory: Directory) -> str | None:
    """The department a leg event belongs to, or None.

    The staff extension among its users decides (the callee first, as the department of a
    call is the one whose phone rang), else the department a number reaches (the callee, then
    the dialled number of an ``Offered``, then the caller).
    """
    for user in (event.to_user, event.from_user):
        dept = directory.department_of_extension(user)
        if dept is not None:
            return dept
    dialled = event.dialled if isinstance(event, Offered) else None
    for user in (event.to_user, dialled, event.from_user):
        dept = directory.department_of_number(user)
        if dept is not None:
            return dept
    return None
