"""One versioned record schema for what callwatch writes about leg events, judged calls and
callback news: ``callwatch ingest``'s JSON, the bus payloads, the live feed, the store's
documents and its spool (:mod:`callwatch.records.schema`; docs/records.md).

An adapter: it imports the core, never the other way round.
"""

from callwatch.records.convert import (
    INCOMPLETE_REASONS,
    call_builtins,
    call_payload,
    call_record,
    callback_builtins,
    callback_payload,
    decode,
    decode_payload,
    encode,
    event_builtins,
    event_from_record,
    event_record,
    judged_from_record,
    news_from_record,
    verdict_builtins,
    verdict_record,
)
from callwatch.records.errors import RecordError
from callwatch.records.schema import VERSION

__all__ = [
    "INCOMPLETE_REASONS",
    "VERSION",
    "RecordError",
    "call_builtins",
    "call_payload",
    "call_record",
    "callback_builtins",
    "callback_payload",
    "decode",
    "decode_payload",
    "encode",
    "event_builtins",
    "event_from_record",
    "event_record",
    "judged_from_record",
    "news_from_record",
    "verdict_builtins",
    "verdict_record",
]
