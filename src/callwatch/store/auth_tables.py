"""The API's access tokens, on the store's metadata (the Alembic migration 0002 follows it).

A token is shown once, when it is created; the database keeps only its SHA-256 (``digest``),
so a copy of the database grants nothing. ``id`` is the public part of the token
(``cw_<id>_<secret>``): it names the row to check and to revoke, and appears in listings.
``departments`` is the list of department names a ``lead`` may read (empty for the others).
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, DateTime, String, Table

from callwatch.store.tables import metadata

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("departments", JSON, nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    Column("revoked_us", BigInteger),
)
