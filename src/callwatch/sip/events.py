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

Side = Literal["caller", "callee"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LegEvent:
    """Fields every leg event has."""

    at: int
    leg: str
    call_id: str
    from_user: str | None
    to_user: str | None

    kind = "event"


@dataclass(frozen=True, slots=True, kw_only=True)
class Offered(LegEvent):
    """The leg's first INVITE was seen.

    ``dialled`` is the Request-URI user part (what was dialled at this hop); ``headers`` holds
    the extension headers a call assembler may use to tie legs together (``X-*``,
    ``P-Asserted-Identity``, ``Referred-By``, ``Replaces``, ``Diversion``, ``History-Info``),
    lower-case names, in message order. ``correlation_id`` is the HEP correlation chunk.
    """

    kind = "offered"
    dialled: str | None = None
    src: tuple[str, int] | None = None
    dst: tuple[str, int] | None = None
    transport: str = "udp"
    headers: tuple[tuple[str, str], ...] = ()
    correlation_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Alerting(LegEvent):
    """The first 180 (or 183) of the leg: a phone is ringing. ``by`` is the Contact user."""

    kind = "alerting"
    status: int = 180
    by: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Answered(LegEvent):
    """The first 2xx to the leg's INVITE. ``by`` is the answering Contact's user part."""

    kind = "answered"
    by: str | None = None
    to_tag: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Held(LegEvent):
    """A re-INVITE or UPDATE from ``by`` offered sendonly/inactive media (or c=0.0.0.0)."""

    kind = "held"
    by: Side = "caller"


@dataclass(frozen=True, slots=True, kw_only=True)
class Resumed(LegEvent):
    """A held leg was taken off hold by a re-INVITE or UPDATE from ``by``."""

    kind = "resumed"
    by: Side = "caller"


@dataclass(frozen=True, slots=True, kw_only=True)
class Referred(LegEvent):
    """A REFER on the leg from ``by``: a transfer to ``refer_to``.

    ``replaces`` is the Call-ID named by a ``Replaces`` in the Refer-To (attended transfer),
    with its tags in ``replaces_tags`` (to-tag, from-tag).
    """

    kind = "referred"
    by: Side = "callee"
    refer_to: str | None = None
    referred_by: str | None = None
    replaces: str | None = None
    replaces_tags: tuple[str | None, str | None] = (None, None)


@dataclass(frozen=True, slots=True, kw_only=True)
class TransferProgress(LegEvent):
    """A NOTIFY of the ``refer`` event package: ``status`` is the sipfrag's status code."""

    kind = "transfer_progress"
    status: int = 100


EndReason = str
"""``bye``, ``cancel``, ``timeout``, or a final status code as text (``486``, ``408``...)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Ended(LegEvent):
    """The leg is over. ``by`` is the side that sent BYE/CANCEL or the failure response;
    None for a timeout. ``answered`` tells whether the leg had been answered."""

    kind = "ended"
    by: Side | None = None
    reason: EndReason = "bye"
    answered: bool = False


EVENT_KINDS = (Offered, Alerting, Answered, Held, Resumed, Referred, TransferProgress, Ended)
