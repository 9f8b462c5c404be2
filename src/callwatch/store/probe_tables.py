"""Probe results on the store's metadata (the Alembic migration 0003 follows it).

One row per probe call placed, keyed by the probe's own SIP Call-ID: what the probe heard
(``record``: :meth:`ProbeRecord.to_dict <callwatch.probe.uac.ProbeRecord.to_dict>`), and
once checked, whether callwatch's capture agreed (``outcome``: ``ok``, ``mismatch``,
``missing``; ``problems`` says what differed) and which stored call it was (``call_id``).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Double,
    Index,
    Integer,
    String,
    Table,
)

from callwatch.store.tables import metadata

probe_results = Table(
    "probe_results",
    metadata,
    Column("sip_call_id", String(255), primary_key=True),
    Column("site", String(100), nullable=False),
    Column("department", String(200), nullable=False),
    Column("number", String(64), nullable=False),
    Column("placed_at", DateTime(timezone=True), nullable=False),
    Column("placed_us", BigInteger, nullable=False),
    Column("answered", Boolean, nullable=False),
    Column("ring_seconds", Double),
    Column("answer_seconds", Double),
    Column("final_status", Integer),
    Column("ended_by", String(16)),
    Column("outcome", String(16), nullable=False),
    Column("problems", JSON, nullable=False),
    Column("call_id", String(255)),
    Column("seen_ring_seconds", Double),
    Column("checked_at", DateTime(timezone=True), nullable=False),
    Column("checked_us", BigInteger, nullable=False),
    Column("record", JSON, nullable=False),
    Index("ix_probe_results_site_placed", "site", "placed_us"),
)
