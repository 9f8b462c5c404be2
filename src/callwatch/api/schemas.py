"""Response and request bodies of the API (pydantic models; they make the OpenAPI document).

Times are ISO 8601 UTC text (``2026-11-23T01:02:03.456789Z``) as in ``callwatch ingest``;
a call is exactly the JSON object ``callwatch ingest`` prints for it, plus ``breached``.
For a trainer every caller number in these bodies is masked (``010-****-5678``).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic_core import PydanticCustomError, core_schema

from callwatch.charter import registry


class _Registered:
    """Validates a rule name against :mod:`callwatch.charter.registry` and documents the
    registered names as the schema's ``enum``, both read when used (the OpenAPI document is
    made when it is first asked for)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_registered, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> dict[str, Any]:
        return {"type": "string", "enum": list(registry.names())}


def _registered(value: str) -> str:
    if registry.get(value) is None:
        expected = ", ".join(repr(name) for name in registry.names())
        raise PydanticCustomError("enum", "Input should be {expected}", {"expected": expected})
    return value


Rule = Annotated[str, _Registered()]
"""The name of a registered charter rule."""
CallbackStatus = Literal["open", "kept", "late", "missed"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Problem(_Model):
    """Why a request was refused (400, 401, 403, 404, 503)."""

    detail: str


class Department(_Model):
    """A department of the site: its charter, public numbers and extension ranges."""

    name: str
    name_en: str | None
    charter: str
    numbers: list[str]
    extensions: list[str]


class Verdict(_Model):
    """One rule's verdict on a call."""

    rule: str
    ok: bool
    measured: float | None
    limit: float | None
    charter: str
    rings: int | None = None
    limit_rings: int | None = None
    detail: str | None = None


class Transfer(_Model):
    """A transfer of the call (blind or attended)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    kind: str
    from_: str | None = Field(alias="from")
    to: str | None
    started_at: str
    connected_at: str | None
    seconds: float | None
    style: str | None = Field(
        None, description="how it showed in signalling: refer, replaces, local_bridge, feature_code"
    )


class CallbackState(_Model):
    """The callback a missed call opened, as it stands."""

    due_at: str | None
    called_back_at: str | None
    by: str | None
    delay_seconds: float | None
    status: CallbackStatus
    opened_at: str | None = None
    number: str | None = None


class Call(_Model):
    """A customer call (the ``callwatch ingest`` JSON) and whether any rule was breached."""

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
    ring_seconds: float | None
    rings: int | None
    ring_from: str | None = Field(
        None, description="whose 180/183 started the ring time: phone, trunk (none visible)"
    )
    pbx_answered: bool = Field(False, description="the PBX answered the caller, no staff phone")
    pbx_answered_at: str | None = None
    ended_at: str | None
    hangup_by: str | None
    missed: bool
    transfers: list[Transfer]
    callback: CallbackState | None
    verdicts: list[Verdict]
    end_reason: str | None
    complete: bool
    incomplete: bool = False
    incomplete_reason: str | None = Field(
        None, description="why the call is incomplete: capture ended, capture began mid-call..."
    )
    correlation: str
    legs: list[str]
    breached: bool
    tag: str | None = Field(
        None, description="null: a staff call; probe: callwatch's own probe call (docs/probes.md)"
    )


class CallPage(_Model):
    """A page of calls, newest first; pass ``next_cursor`` as ``cursor`` for the next page."""

    items: list[Call]
    next_cursor: str | None


class Event(BaseModel):
    """A leg event (the ``callwatch ingest --events`` JSON: kind-specific fields vary)."""

    model_config = ConfigDict(extra="allow")

    at: str
    event: str
    call_id: str
    leg: str
    from_: str | None = Field(default=None, alias="from")
    to: str | None = None


class SipMessage(_Model):
    """One captured SIP message of the call, for the ladder (capture order)."""

    at: str
    src: str
    dst: str
    transport: str
    sip_call_id: str
    leg: str | None
    first_line: str
    text: str


class CallDetail(_Model):
    """A call with its events (time order), its verdicts and its SIP messages."""

    call: Call
    events: list[Event]
    messages: list[SipMessage]


class Breach(_Model):
    """One failed verdict, with the call it judged."""

    call: str
    source: Literal["call", "callback"]
    department: str | None
    direction: str
    caller: str | None
    answered_by: str | None
    started_at: str
    rule: str
    charter: str
    measured: float | None
    limit: float | None
    unit: str
    rings: int | None
    limit_rings: int | None
    detail: str
    tag: str | None = Field(
        None, description="null: a staff call; probe: callwatch's own probe call (docs/probes.md)"
    )


class BreachPage(_Model):
    """A page of breaches, newest call first."""

    items: list[Breach]
    next_cursor: str | None


class Callback(_Model):
    """A missed caller waiting (or no longer waiting) to be called back."""

    call: str
    number: str
    department: str | None
    charter: str
    opened_at: str
    due_at: str | None
    called_back_at: str | None
    by: str | None
    status: CallbackStatus
    attempts: int
    requested: bool
    delay_seconds: float | None


class CallbackPage(_Model):
    """A page of callbacks, newest first."""

    items: list[Callback]
    next_cursor: str | None


class CallbackRequest(_Model):
    """A caller asked to be called back at ``due_at``: that time becomes the deadline of their
    open (or missed) callbacks opened by ``asked_at`` (default: now)."""

    number: str = Field(min_length=1, max_length=64, examples=["010-1234-5678"])
    due_at: str = Field(examples=["2026-11-23T15:00:00+09:00"])
    asked_at: str | None = Field(default=None, examples=["2026-11-23T10:05:00+09:00"])


class CallbackUpdate(_Model):
    """The callbacks whose deadline the request set."""

    items: list[Callback]
