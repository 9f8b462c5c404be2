"""The record schema, version :data:`VERSION`: what callwatch writes about events, judged calls
and callback news, in one shape wherever it goes.

One set of types serves every writer and reader:

- ``callwatch ingest`` prints :class:`CallRecord` (``--events``: :data:`Event`), in their
  *public* form (the fields marked "full form only" left out);
- the store keeps that public :class:`CallRecord` as the call's document;
- the bus publishes :data:`Event` (``events``), :class:`Breach` (``breaches``) and the full
  :class:`CallRecord` / :class:`CallbackNewsRecord` (``calls``/``callbacks``, which workers
  store) inside :class:`CallPayload` / :class:`CallbackPayload`;
- the store's spool keeps the same full records (:mod:`callwatch.store.codec`).

Times are ISO 8601 UTC text to the microsecond (``2026-11-23T01:02:03.456789Z``,
:func:`callwatch.timefmt.iso`), so a record read back gives the very capture time it was
written from. Addresses are ``host:port`` (``[host]:port`` for IPv6). Fields whose value is
``UNSET`` are left out of the JSON: that is how the public form omits what only the full form
carries. The JSON Schema of each published payload is in ``docs/schema/`` (generated from these
types by :mod:`callwatch.records.jsonschema`).
"""

from __future__ import annotations

from typing import Literal

from msgspec import UNSET, Struct, UnsetType, field

VERSION = 1
"""The record schema's version: every published payload and spool record says it (``v``)."""

Side = Literal["caller", "callee"]


# -- leg events ----------------------------------------------------------------------------------


class EventBase(Struct, tag_field="event", kw_only=True, frozen=True):
    """Fields every leg event record has; ``event`` (the kind) tags the record."""

    at: str
    call_id: str
    from_: str | None = field(name="from")
    to: str | None
    leg: str


class Offered(EventBase, tag="offered", frozen=True):
    """The leg's first INVITE."""

    dialled: str | None = None
    src: str | None = None
    dst: str | None = None
    transport: str = "udp"
    headers: tuple[tuple[str, str], ...] = ()
    correlation_id: str | None = None


class Alerting(EventBase, tag="alerting", frozen=True):
    """The leg's first 180/183."""

    status: int = 180
    by: str | None = None


class Answered(EventBase, tag="answered", frozen=True):
    """The first 2xx to the leg's INVITE."""

    by: str | None = None
    to_tag: str | None = None


class Held(EventBase, tag="held", frozen=True):
    """Put on hold by ``by``."""

    by: Side = "caller"


class Resumed(EventBase, tag="resumed", frozen=True):
    """Taken off hold by ``by``."""

    by: Side = "caller"


class Referred(EventBase, tag="referred", frozen=True):
    """A REFER from ``by``."""

    by: Side = "callee"
    refer_to: str | None = None
    referred_by: str | None = None
    replaces: str | None = None
    replaces_tags: tuple[str | None, str | None] = (None, None)


class TransferProgress(EventBase, tag="transfer_progress", frozen=True):
    """A NOTIFY of the ``refer`` event package."""

    status: int = 100


class Ended(EventBase, tag="ended", frozen=True):
    """The leg is over."""

    by: Side | None = None
    reason: str = "bye"
    answered: bool = False


Event = Offered | Alerting | Answered | Held | Resumed | Referred | TransferProgress | Ended
"""A leg event record (``callwatch ingest --events`` prints one per line)."""

EVENT_RECORDS: dict[str, type[EventBase]] = {
    "offered": Offered,
    "alerting": Alerting,
    "answered": Answered,
    "held": Held,
    "resumed": Resumed,
    "referred": Referred,
    "transfer_progress": TransferProgress,
    "ended": Ended,
}
"""Every event record type by its ``event`` tag (the domain's :attr:`LegEvent.kind`)."""


# -- judged calls --------------------------------------------------------------------------------


class VerdictRecord(Struct, kw_only=True):
    """One rule's verdict. ``rings``/``limit_rings`` only for a rule that counts rings,
    ``detail`` only when there is one; ``unit`` and ``evidence``: full form and breaches."""

    rule: str
    ok: bool
    measured: float | None
    limit: float | None
    charter: str
    rings: int | UnsetType | None = UNSET
    limit_rings: int | UnsetType | None = UNSET
    detail: str | UnsetType = UNSET
    unit: str | UnsetType = UNSET
    evidence: list[str] | UnsetType = UNSET


class TransferRecord(Struct, kw_only=True):
    """A transfer of the customer; ``legs`` and ``completed_at``: full form only."""

    kind: str
    from_: str | None = field(name="from")
    to: str | None
    started_at: str
    connected_at: str | None
    seconds: float | None
    style: str | None
    legs: list[str] | UnsetType = UNSET
    completed_at: str | UnsetType | None = UNSET


class CallbackRecord(Struct, kw_only=True):
    """A missed call's callback; ``call``, ``department``, ``charter``, ``attempts`` and
    ``requested``: full form only (in a call record they are the call's own)."""

    due_at: str | None
    called_back_at: str | None
    by: str | None
    delay_seconds: float | None
    status: Literal["open", "kept", "late", "missed"]
    opened_at: str | None
    number: str | None
    call: str | UnsetType = UNSET
    department: str | UnsetType | None = UNSET
    charter: str | UnsetType = UNSET
    attempts: int | UnsetType = UNSET
    requested: bool | UnsetType = UNSET


class LegRecord(Struct, kw_only=True):
    """One SIP dialog family of a call with its events (full form only)."""

    leg: str
    call_id: str
    from_: str | None = field(name="from")
    to: str | None
    dialled: str | None
    offered_at: str
    role: str
    alerting_at: str | None
    answered_at: str | None
    answered_by: str | None
    ended_at: str | None
    ended_by: Side | None
    end_reason: str | None
    held_at: str | None
    events: list[Event]


class CallRecord(Struct, kw_only=True):
    """A judged customer call: the ``callwatch ingest`` object.

    ``legs`` are the SIP Call-IDs of its legs; ``sip_legs`` (full form only) the legs
    themselves with their events, so a reader can rebuild the call and store it.
    ``incomplete_reason`` is worded (``capture ended``, ``capture began mid-call``,
    ``signalling went quiet``).
    """

    call: str
    direction: str
    caller: str | None
    dialled: str | None
    department: str | None
    charter: str
    started_at: str
    first_ring_at: str | None
    answered_at: str | None
    answered_by: str | None
    pbx_answered: bool
    pbx_answered_at: str | None
    ring_from: str | None
    ring_seconds: float | None
    rings: int | None
    ended_at: str | None
    hangup_by: str | None
    missed: bool
    transfers: list[TransferRecord]
    callback: CallbackRecord | None
    verdicts: list[VerdictRecord]
    end_reason: str | None
    complete: bool
    incomplete: bool
    incomplete_reason: str | None
    correlation: str
    legs: list[str]
    sip_legs: list[LegRecord] | UnsetType = UNSET


class CallbackNewsRecord(Struct, kw_only=True):
    """A callback that opened, was kept, became late or was missed, with its verdicts."""

    callback: CallbackRecord
    verdicts: list[VerdictRecord]


class SipRecord(Struct, kw_only=True):
    """A raw SIP message as kept for a call's ladder (the store spool's ``sip`` records)."""

    at: str
    src: str
    dst: str
    transport: str
    call_id: str
    text: str
    leg: str | None = None


FULL_ONLY: dict[type[Struct], frozenset[str]] = {
    VerdictRecord: frozenset({"unit", "evidence"}),
    TransferRecord: frozenset({"legs", "completed_at"}),
    CallbackRecord: frozenset({"call", "department", "charter", "attempts", "requested"}),
    CallRecord: frozenset({"sip_legs"}),
}
"""The fields only a record's full form carries: the public form (``callwatch ingest``, the
stored call document, the API) leaves them out."""


# -- envelopes: the spool's records and the bus payloads ------------------------------------------


class CallPayload(CallRecord, tag_field="type", tag="call", kw_only=True):
    """A full :class:`CallRecord` as the spool keeps it and the bus ``calls`` topic carries it
    (``id`` and ``site`` on the bus only)."""

    v: int = VERSION
    id: str | UnsetType = UNSET
    site: str | UnsetType = UNSET


class CallbackPayload(CallbackNewsRecord, tag_field="type", tag="callback", kw_only=True):
    """A full :class:`CallbackNewsRecord` as the spool keeps it and the bus ``callbacks`` topic
    carries it (``id`` and ``site`` on the bus only)."""

    v: int = VERSION
    id: str | UnsetType = UNSET
    site: str | UnsetType = UNSET


class SipPayload(SipRecord, tag_field="type", tag="sip", kw_only=True):
    """A raw SIP message in the spool."""

    v: int = VERSION


Spooled = CallPayload | CallbackPayload | SipPayload
"""The spool's tagged records but events (an event record is tagged by its kind: the spool
writes it with ``"type": "event"`` and ``v`` beside its own fields)."""


class Breach(Struct, kw_only=True):
    """A failed verdict as the bus ``breaches`` topic carries it.

    ``id`` is ``<call>:<rule>:<n>`` for a call's verdict (``n`` counts the rule's verdicts within
    the call) and ``<call>:callback:<status>`` for a callback's. A call's breach has
    ``direction``, ``started_at`` and ``ended_at``; a callback's has ``status``, ``opened_at``,
    ``due_at``, ``called_back_at`` and ``by``. ``at`` is when it happened (the call's start;
    the callback's call back, due time or opening). ``tag``: null for a staff call,
    ``probe`` for callwatch's own probe call.
    """

    v: int = VERSION
    id: str
    site: str
    call: str
    department: str | None
    caller: str | None
    rule: str
    measured: float | None
    limit: float | None
    charter: str
    rings: int | UnsetType | None = UNSET
    limit_rings: int | UnsetType | None = UNSET
    detail: str
    unit: str
    evidence: list[str]
    direction: str | UnsetType = UNSET
    started_at: str | UnsetType = UNSET
    ended_at: str | UnsetType | None = UNSET
    status: str | UnsetType = UNSET
    opened_at: str | UnsetType = UNSET
    due_at: str | UnsetType | None = UNSET
    called_back_at: str | UnsetType | None = UNSET
    by: str | UnsetType | None = UNSET
    at: str | None
    tag: str | None


class EventEnvelope(Struct, kw_only=True):
    """What the bus ``events`` topic adds to an :data:`Event` record (its JSON Schema is the
    event's and this one's together)."""

    v: int = VERSION
    id: str
    site: str
    department: str | None
    tag: str | None
