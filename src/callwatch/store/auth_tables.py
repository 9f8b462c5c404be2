"""The API's access tokens, on the store's metadata (the Alembic migrations 0002 and 0003
follow it).

A token is shown once, when it is created; the database keeps only its SHA-256 (``digest``),
so a copy of the database grants nothing. ``id`` is the public part of the token
(``cw_<id>_<secret>``): it names the row to check and to revoke, and appears in listings.
``departments`` is the list of department names a ``lead`` may read (empty for the others).
``expires_*`` is when the token stops being accepted (none: never); ``last_used_*`` when it
was last accepted (kept to the minute).
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
    Column("expires_at", DateTime(timezone=True)),
    Column("expires_us", BigInteger),
    Column("last_used_at", DateTime(timezone=True)),
    Column("last_used_us", BigInteger),
)
