"""Alembic environment of the callwatch store.

Run programmatically (:func:`callwatch.store.database.migrate` passes an open connection in
``config.attributes["connection"]``) or with the ``alembic`` command from a checkout (the
top-level ``alembic.ini``; the URL comes from ``sqlalchemy.url`` or ``CALLWATCH_DATABASE_URL``).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from callwatch.store.database import default_database_url, make_engine
from callwatch.store.tables import metadata

config = context.config


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def _offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url") or default_database_url(),
        target_metadata=metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    _offline()
elif (given := config.attributes.get("connection")) is not None:
    _run(given)
else:
    engine = make_engine(config.get_main_option("sqlalchemy.url") or default_database_url())
    try:
        with engine.begin() as conn:
            _run(conn)
    finally:
        engine.dispose()
