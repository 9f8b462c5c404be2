"""Probe calls: ``calls.tag`` (``probe`` for callwatch's own probe calls) and ``probe_results``.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("calls", sa.Column("tag", sa.String(length=16), nullable=True))
    op.create_table(
        "probe_results",
        sa.Column("sip_call_id", sa.String(length=255), nullable=False),
        sa.Column("site", sa.String(length=100), nullable=False),
        sa.Column("department", sa.String(length=200), nullable=False),
        sa.Column("number", sa.String(length=64), nullable=False),
        sa.Column("placed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("placed_us", sa.BigInteger(), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("ring_seconds", sa.Double(), nullable=True),
        sa.Column("answer_seconds", sa.Double(), nullable=True),
        sa.Column("final_status", sa.Integer(), nullable=True),
        sa.Column("ended_by", sa.String(length=16), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("problems", sa.JSON(), nullable=False),
        sa.Column("call_id", sa.String(length=255), nullable=True),
        sa.Column("seen_ring_seconds", sa.Double(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("checked_us", sa.BigInteger(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("sip_call_id", name=op.f("pk_probe_results")),
    )
    op.create_index(
        "ix_probe_results_site_placed", "probe_results", ["site", "placed_us"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_probe_results_site_placed", table_name="probe_results")
    op.drop_table("probe_results")
    with op.batch_alter_table("calls") as batch:
        batch.drop_column("tag")
