"""Leg events: what the dialog tracker hands on, one small immutable object per happening.

A *leg* is one INVITE dialog family: every message of one Call-ID and one caller-side From
tag, with its forks (to-tags) folded in. Times are capture microseconds (see
:mod:`callwatch.timefmt`). ``caller`` is the side that sent the leg's first INVITE; ``callee``
the side it was sent to. Every event carries the leg's identity so that a consumer can
handle it without looking anything up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from callwatch.fieldpickle import pickle_by_fields
from callwatch.frozen import fast_init

Side = Literal["caller", "callee"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LegEvent:
    """Fields every leg event has."""

    at: int
    leg: str
    call_id: str
    from_user: str | None
    to_user: str | None

    @property
    def kind(self) -> str:
        """What happened, as the store and the bus name it (``offered``, ``ended`` ...)."""
        return "event"


@dataclass(frozen=True, slots=True, kw_only=True)
class Offered(LegEvent):
    """The leg's first INVITE was seen.

    ``dialled`` is the Request-URI user part (what was dialled at this hop); ``headers`` holds
    the extension headers a call assembler may use to tie legs together (``X-*``,
    ``P-Asserted-Identity``, ``Referred-By``, ``Replaces``, ``Diversion``, ``History-Info``),
    lower-case names, in message order. ``correlation_id`` is the HEP correlation chunk.
    """

    dialled: str | None = None
    src: tuple[str, int] | None = None
    dst: tuple[str, int] | None = None
    transport: str = "udp"
    headers: tuple[tuple[str, str], ...] = ()
    correlation_id: str | None = None

    def __init__(
        self,
        *,
        at: int,
        leg: str,
        call_id: str,
        from_user: str | None,
        to_user: str | None,
        dialled: str | None = None,
        src: tuple[str, int] | None = None,
        dst: tuple[str, int] | None = None,
        transport: str = "udp",
        headers: tuple[tuple[str, str], ...] = (),
        correlation_id: str | None = None,
    ) -> None:
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "leg", leg)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "from_user", from_user)
        object.__setattr__(self, "to_user", to_user)
        object.__setattr__(self, "dialled", dialled)
        object.__setattr__(self, "src", src)
        object.__setattr__(self, "dst", dst)
        object.__setattr__(self, "transport", transport)
        object.__setattr__(self, "headers", headers)
        object.__setattr__(self, "correlation_id", correlation_id)

    @property
    def kind(self) -> str:
        return "offered"


@dataclass(frozen=True, slots=True, kw_only=True)
class Alerting(LegEvent):
    """The first 180 (or 183) of the leg: a phone is ringing. ``by`` is the Contact user."""

    status: int = 180
    by: str | None = None

    def __init__(
        self,
        *,
        at: int,
        leg: str,
        call_id: str,
        from_user: str | None,
        to_user: str | None,
        status: int = 180,
        by: str | None = None,
    ) -> None:
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "leg", leg)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "from_user", from_user)
        object.__setattr__(self, "to_user", to_user)
        object.__setattr__(self, "status", status)
        object.__setattr__(self, "by", by)

    @property
    def kind(self) -> str:
        return "alerting"


@dataclass(frozen=True, slots=True, kw_only=True)
class Answered(LegEvent):
    """The first 2xx to the leg's INVITE. ``by`` is the answering Contact's user part."""

    by: str | None = None
    to_tag: str | None = None

    def __init__(
        self,
        *,
        at: int,
        leg: str,
        call_id: str,
        from_user: str | None,
        to_user: str | None,
        by: str | None = None,
        to_tag: str | None = None,
    ) -> None:
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "leg", leg)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "from_user", from_user)
        object.__setattr__(self, "to_user", to_user)
        object.__setattr__(self, "by", by)
        object.__setattr__(self, "to_tag", to_tag)

    @property
    def kind(self) -> str:
        return "answered"


@dataclass(frozen=True, slots=True, kw_only=True)
class Held(LegEvent):
    """A re-INVITE or UPDATE from ``by`` offered sendonly/inactive media (or c=0.0.0.0)."""

    by: Side = "caller"

    @property
    def kind(self) -> str:
        return "held"


@dataclass(frozen=True, slots=True, kw_only=True)
class Resumed(LegEvent):
    """A held leg was taken off hold by a re-INVITE or UPDATE from ``by``."""

    by: Side = "caller"

    @property
    def kind(self) -> str:
        return "resumed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Referred(LegEvent):
    """A REFER on the leg from ``by``: a transfer to ``refer_to``.

    ``replaces`` is the Call-ID named by a ``Replaces`` in the Refer-To (attended transfer),
    with its tags in ``replaces_tags`` (to-tag, from-tag).
    """

    by: Side = "callee"
    refer_to: str | None = None
    referred_by: str | None = None
    replaces: str | None = None
    replaces_tags: tuple[str | None, str | None] = (None, None)

    @property
    def kind(self) -> str:
        return "referred"


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferProgress(LegEvent):
    """A NOTIFY of the ``refer`` event package: ``status`` is the sipfrag's status code."""

    status: int = 100

    @property
    def kind(self) -> str:
        return "transfer_progress"


EndReason = str
"""``bye``, ``cancel``, ``timeout``, or a final status code as text (``486``, ``408``...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ended(LegEvent):
    """The leg is over. ``by`` is the side that sent BYE/CANCEL or the failure response;
    None for a timeout. ``answered`` tells whether the leg had been answered."""

    by: Side | None = None
    reason: EndReason = "bye"
    answered: bool = False

    def __init__(
        self,
        *,
        at: int,
        leg: str,
        call_id: str,
        from_user: str | None,
        to_user: str | None,
        by: Side | None = None,
        reason: EndReason = "bye",
        answered: bool = False,
    ) -> None:
        object.__setattr__(self, "at", at)
        object.__setattr__(self, "leg", leg)
        object.__setattr__(self, "call_id", call_id)
        object.__setattr__(self, "from_user", from_user)
        object.__setattr__(self, "to_user", to_user)
        object.__setattr__(self, "by", by)
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "answered", answered)

    @property
    def kind(self) -> str:
        return "ended"


EVENT_KINDS: dict[str, type[LegEvent]] = {
    "offered": Offered,
    "alerting": Alerting,
    "answered": Answered,
    "held": Held,
    "resumed": Resumed,
    "referred": Referred,
    "transfer_progress": TransferProgress,
    "ended": Ended,
}
"""Every kind of leg event by its :attr:`~LegEvent.kind` (what the store and the bus write)."""

pickle_by_fields(*EVENT_KINDS.values())  # the service hands events to its store process
# the kinds of every call, written out (callwatch.frozen): compiled, plain stores
fast_init(Offered, Offered.__init__)
fast_init(Alerting, Alerting.__init__)
fast_init(Answered, Answered.__init__)
fast_init(Ended, Ended.__init__)
