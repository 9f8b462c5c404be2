"""Engines, the default database URL and Alembic migrations run from the installed package.

The migrations ship inside the package (``callwatch/store/migrations``) so that ``pip install .``
and an editable install both migrate without a checkout; :func:`migrate` points Alembic there.
SQLite gets WAL, foreign keys and real transactions (``BEGIN`` issued by SQLAlchemy rather than
by the sqlite3 module, so DDL is transactional and reads see one snapshot).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, event, make_url
from sqlalchemy.engine import URL, Connection

if TYPE_CHECKING:
    import sqlite3

ENV_URL = "CALLWATCH_DATABASE_URL"
DEFAULT_SQLITE_FILE = "callwatch.sqlite"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
_PG_CONNECT_TIMEOUT_S = 5
_SQLITE_BUSY_TIMEOUT_S = 30


def default_database_url() -> str:
    """``$CALLWATCH_DATABASE_URL``, else the SQLite file ``callwatch.sqlite`` in the working
    directory."""
    return os.environ.get(ENV_URL) or f"sqlite:///{DEFAULT_SQLITE_FILE}"


def normalize_url(url: str | URL) -> URL:
    """``postgresql://`` and ``postgres://`` mean psycopg 3; other URLs are kept."""
    parsed = make_url(str(url).replace("postgres://", "postgresql://", 1))
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL) -> Engine:
    """An engine for ``url`` (SQLite file or PostgreSQL), set up as the store expects."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": _SQLITE_BUSY_TIMEOUT_S})
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
        return engine
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            parsed,
            pool_pre_ping=True,
            connect_args={"connect_timeout": _PG_CONNECT_TIMEOUT_S},
        )
    return create_engine(parsed)


def _sqlite_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy issues BEGIN (see _sqlite_begin)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    connection.exec_driver_sql("BEGIN")


def alembic_config() -> Config:
    """An Alembic configuration whose scripts are the package's migrations."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the database of ``engine`` to ``revision`` in one transaction."""
    cfg = alembic_config()
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def db_upgrade(url: str | None = None) -> str | None:
    """``callwatch db upgrade``: migrate ``url`` (default :func:`default_database_url`) to the
    newest schema; return the revision it is at."""
    engine = make_engine(url or default_database_url())
    try:
        migrate(engine)
        return current_revision(engine)
    finally:
        engine.dispose()
