"""The database schema as SQLAlchemy Core tables (the Alembic migrations follow this file).

Every time is kept twice: ``<name>_at`` as a timezone-aware UTC timestamp for people and SQL
tools, and ``<name>_us`` as the exact capture microseconds the core works in (queries and
exports use the ``_us`` columns, so nothing depends on a backend's timestamp precision).

Rows are keyed by what identifies them in the capture, never by a surrogate counter, so that
writing the same call twice (a capture ingested twice, two capture agents) updates one row:

- ``calls``: the customer call's stable id; legs and verdicts of a call are replaced on save;
- ``events``: (leg key, capture time, kind); ``call_id`` is NULL until the call is saved;
- ``callbacks``: the missed call's id (no foreign key: with several collectors a callback may
  arrive before its call);
- ``sip_messages``: (capture time, SHA-1 of the text).

``calls.tag`` marks a call that is not a citizen's: ``probe`` for callwatch's own probe calls
(:mod:`callwatch.probe.tagging`), which the compliance figures leave out; NULL otherwise.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


def _time(name: str, *, nullable: bool = True) -> tuple[Column, Column]:
    return (
        Column(f"{name}_at", DateTime(timezone=True), nullable=nullable),
        Column(f"{name}_us", BigInteger, nullable=nullable),
    )


departments = Table(
    "departments",
    metadata,
    Column("site", String(100), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("name_en", String(200)),
    Column("charter", String(100)),
    Column("numbers", JSON, nullable=False),
)

extensions = Table(
    "extensions",
    metadata,
    Column("site", String(100), primary_key=True),
    Column("first", Text, primary_key=True),  # a range's end or a name, as written: any length
    Column("last", Text, nullable=False),
    Column("department", String(200), nullable=False),
)

calls = Table(
    "calls",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("site", String(100), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("caller", String(255)),
    Column("dialled", String(255)),
    Column("department", String(200)),
    Column("charter", String(100), nullable=False),
    *_time("started", nullable=False),
    *_time("first_ring"),
    *_time("answered"),
    *_time("ended"),
    Column("ring_seconds", Double),
    Column("answered_by", String(255)),
    Column("hangup_by", String(16)),
    Column("missed", Boolean, nullable=False),
    Column("end_reason", String(64)),
    Column("complete", Boolean, nullable=False),
    Column("correlation", String(100), nullable=False),
    Column("document", JSON, nullable=False),
    Column("tag", String(16)),
    Index("ix_calls_department_started", "department", "started_us"),
    Index("ix_calls_started", "started_us"),
    Index("ix_calls_site_started", "site", "started_us"),
)

legs = Table(
    "legs",
    metadata,
    Column("call_id", String(255), ForeignKey("calls.id", ondelete="CASCADE"), primary_key=True),
    Column("leg", String(512), primary_key=True),
    Column("position", Integer, nullable=False),
    Column("sip_call_id", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("from_user", String(255)),
    Column("to_user", String(255)),
    Column("dialled", String(255)),
    *_time("offered", nullable=False),
    *_time("alerting"),
    *_time("answered"),
    Column("answered_by", String(255)),
    *_time("ended"),
    Column("ended_by", String(16)),
    Column("end_reason", String(64)),
    *_time("held"),
    Index("ix_legs_sip_call_id", "sip_call_id"),
)

events = Table(
    "events",
    metadata,
    Column("leg", String(512), primary_key=True),
    Column("at_us", BigInteger, primary_key=True),
    Column("kind", String(32), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("sip_call_id", String(255), nullable=False),
    Column("call_id", String(255), ForeignKey("calls.id", ondelete="SET NULL")),
    Column("fields", JSON, nullable=False),
    Index("ix_events_call_id_at", "call_id", "at_us"),
)

verdicts = Table(
    "verdicts",
    metadata,
    Column("call_id", String(255), primary_key=True),
    Column("source", String(16), primary_key=True),
    Column("position", Integer, primary_key=True),
    Column("rule", String(16), nullable=False),
    Column("charter", String(100), nullable=False),
    Column("ok", Boolean, nullable=False),
    Column("measured", Double),
    Column("limit", Double),
    Column("unit", String(8), nullable=False),
    Column("rings", Integer),
    Column("limit_rings", Integer),
    Column("detail", Text, nullable=False),
    Column("evidence", JSON, nullable=False),
    Index("ix_verdicts_rule_ok", "rule", "ok"),
)

callbacks = Table(
    "callbacks",
    metadata,
    Column("call_id", String(255), primary_key=True),
    Column("number", String(64), nullable=False),
    Column("department", String(200)),
    Column("charter", String(100), nullable=False),
    *_time("opened", nullable=False),
    *_time("due"),
    *_time("called_back"),
    Column("by", String(255)),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("requested", Boolean, nullable=False),
    Column("delay_seconds", Double),
    Column("rank", Integer, nullable=False),
    Index("ix_callbacks_status_due", "status", "due_us"),
)

sip_messages = Table(
    "sip_messages",
    metadata,
    Column("at_us", BigInteger, primary_key=True),
    Column("digest", String(40), primary_key=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("src", String(64), nullable=False),
    Column("dst", String(64), nullable=False),
    Column("transport", String(8), nullable=False),
    Column("first_line", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("leg", String(512)),
    Column("sip_call_id", String(255), nullable=False),
    Index("ix_sip_messages_sip_call_id", "sip_call_id", "at_us"),
)
