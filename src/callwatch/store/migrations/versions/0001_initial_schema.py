"""Initial schema: departments, extensions, calls, legs, events, verdicts, callbacks, SIP messages.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 11:18:36.001338
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "callbacks",
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("charter", sa.String(length=100), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_us", sa.BigInteger(), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("due_us", sa.BigInteger(), nullable=True),
        sa.Column("called_back_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("called_back_us", sa.BigInteger(), nullable=True),
        sa.Column("by", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("requested", sa.Boolean(), nullable=False),
        sa.Column("delay_seconds", sa.Double(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_callbacks")),
    )
    op.create_index("ix_callbacks_status_due", "callbacks", ["status", "due_us"], unique=False)
    op.create_table(
        "calls",
        sa.Column("id", sa.String(length=255), nullable=False),
        sa.Column("site", sa.String(length=100), nullable=False),
        sa.Column("direction", sa.String(length=16), nullable=False),
        sa.Column("caller", sa.String(length=255), nullable=True),
        sa.Column("dialled", sa.String(length=255), nullable=True),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("charter", sa.String(length=100), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_us", sa.BigInteger(), nullable=False),
        sa.Column("first_ring_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("first_ring_us", sa.BigInteger(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_us", sa.BigInteger(), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_us", sa.BigInteger(), nullable=True),
        sa.Column("ring_seconds", sa.Double(), nullable=True),
        sa.Column("answered_by", sa.String(length=255), nullable=True),
        sa.Column("hangup_by", sa.String(length=16), nullable=True),
        sa.Column("missed", sa.Boolean(), nullable=False),
        sa.Column("end_reason", sa.String(length=64), nullable=True),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("correlation", sa.String(length=100), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calls")),
    )
    op.create_index(
        "ix_calls_department_started", "calls", ["department", "started_us"], unique=False
    )
    op.create_index("ix_calls_site_started", "calls", ["site", "started_us"], unique=False)
    op.create_index("ix_calls_started", "calls", ["started_us"], unique=False)
    op.create_table(
        "departments",
        sa.Column("site", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("name_en", sa.String(length=200), nullable=True),
        sa.Column("charter", sa.String(length=100), nullable=True),
        sa.Column("numbers", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("site", "name", name=op.f("pk_departments")),
    )
    op.create_table(
        "extensions",
        sa.Column("site", sa.String(length=100), nullable=False),
        sa.Column("first", sa.String(length=64), nullable=False),
        sa.Column("last", sa.String(length=64), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("site", "first", name=op.f("pk_extensions")),
    )
    op.create_table(
        "sip_messages",
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("digest", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("src", sa.String(length=64), nullable=False),
        sa.Column("dst", sa.String(length=64), nullable=False),
        sa.Column("transport", sa.String(length=8), nullable=False),
        sa.Column("first_line", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("leg", sa.String(length=512), nullable=True),
        sa.Column("sip_call_id", sa.String(length=255), nullable=False),
        sa.PrimaryKeyConstraint("at_us", "digest", name=op.f("pk_sip_messages")),
    )
    op.create_index(
        "ix_sip_messages_sip_call_id", "sip_messages", ["sip_call_id", "at_us"], unique=False
    )
    op.create_table(
        "verdicts",
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("rule", sa.String(length=16), nullable=False),
        sa.Column("charter", sa.String(length=100), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("measured", sa.Double(), nullable=True),
        sa.Column("limit", sa.Double(), nullable=True),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("rings", sa.Integer(), nullable=True),
        sa.Column("limit_rings", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("call_id", "source", "position", name=op.f("pk_verdicts")),
    )
    op.create_index("ix_verdicts_rule_ok", "verdicts", ["rule", "ok"], unique=False)
    op.create_table(
        "events",
        sa.Column("leg", sa.String(length=512), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sip_call_id", sa.String(length=255), nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=True),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_events_call_id_calls"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("leg", "at_us", "kind", name=op.f("pk_events")),
    )
    op.create_index("ix_events_call_id_at", "events", ["call_id", "at_us"], unique=False)
    op.create_table(
        "legs",
        sa.Column("call_id", sa.String(length=255), nullable=False),
        sa.Column("leg", sa.String(length=512), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("sip_call_id", sa.String(length=255), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("from_user", sa.String(length=255), nullable=True),
        sa.Column("to_user", sa.String(length=255), nullable=True),
        sa.Column("dialled", sa.String(length=255), nullable=True),
        sa.Column("offered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offered_us", sa.BigInteger(), nullable=False),
        sa.Column("alerting_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alerting_us", sa.BigInteger(), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answered_us", sa.BigInteger(), nullable=True),
        sa.Column("answered_by", sa.String(length=255), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_us", sa.BigInteger(), nullable=True),
        sa.Column("ended_by", sa.String(length=16), nullable=True),
        sa.Column("end_reason", sa.String(length=64), nullable=True),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("held_us", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["call_id"], ["calls.id"], name=op.f("fk_legs_call_id_calls"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("call_id", "leg", name=op.f("pk_legs")),
    )
    op.create_index("ix_legs_sip_call_id", "legs", ["sip_call_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_legs_sip_call_id", table_name="legs")
    op.drop_table("legs")
    op.drop_index("ix_events_call_id_at", table_name="events")
    op.drop_table("events")
    op.drop_index("ix_verdicts_rule_ok", table_name="verdicts")
    op.drop_table("verdicts")
    op.drop_index("ix_sip_messages_sip_call_id", table_name="sip_messages")
    op.drop_table("sip_messages")
    op.drop_table("extensions")
    op.drop_table("departments")
    op.drop_index("ix_calls_started", table_name="calls")
    op.drop_index("ix_calls_site_started", table_name="calls")
    op.drop_index("ix_calls_department_started", table_name="calls")
    op.drop_table("calls")
    op.drop_index("ix_callbacks_status_due", table_name="callbacks")
    op.drop_table("callbacks")
