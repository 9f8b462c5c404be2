"""Extension names of any length: ``extensions.first`` and ``last`` become TEXT.

A directory entry is a range's end or a phone's name or pattern as written in the site file,
which sets no length; ``VARCHAR(64)`` made PostgreSQL refuse a longer name when the
directory was synced (SQLite never enforced it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06 05:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("extensions") as batch:
        for column in ("first", "last"):
            batch.alter_column(
                column, type_=sa.Text(), existing_type=sa.String(length=64), existing_nullable=False
            )


def downgrade() -> None:
    # Fails on PostgreSQL while a name longer than 64 characters is stored.
    with op.batch_alter_table("extensions") as batch:
        for column in ("first", "last"):
            batch.alter_column(
                column, type_=sa.String(length=64), existing_type=sa.Text(), existing_nullable=False
            )
