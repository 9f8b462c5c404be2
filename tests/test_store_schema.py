"""Migrations: an empty database upgrades to the newest schema, which matches tables.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import test_store_fixtures as fx
from callwatch.store import Store, db_upgrade, default_database_url
from callwatch.store.database import MIGRATIONS, alembic_config, normalize_url
from callwatch.store.tables import metadata

_pg_cleanup = fx._pg_cleanup
pg_database = fx.pg_database
database_url = fx.database_url


def _head() -> str:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_upgrade_on_an_empty_database_creates_every_table(database_url: str) -> None:
    store = Store.open(database_url)
    try:
        assert store.revision() is None
        store.upgrade()
        assert store.revision() == _head()
        names = set(inspect(store.engine).get_table_names())
        assert {t.name for t in metadata.sorted_tables} <= names
        store.upgrade()  # a second upgrade is a no-op
        assert store.revision() == _head()
    finally:
        store.close()


def test_migrations_match_the_table_definitions(database_url: str) -> None:
    assert db_upgrade(database_url) == _head()
    store = Store.open(database_url)
    try:
        with store.engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        store.close()


def test_migrations_ship_inside_the_package() -> None:
    assert MIGRATIONS.parent.name == "store"
    assert (MIGRATIONS / "env.py").is_file()
    assert list((MIGRATIONS / "versions").glob("0001_*.py"))


def test_default_url_is_a_sqlite_file_unless_the_environment_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("CALLWATCH_DATABASE_URL", raising=False)
    assert default_database_url() == "sqlite:///callwatch.sqlite"
    monkeypatch.chdir(tmp_path)
    assert db_upgrade() == _head()
    assert (tmp_path / "callwatch.sqlite").is_file()
    monkeypatch.setenv("CALLWATCH_DATABASE_URL", "postgresql://u@h/db")
    assert default_database_url() == "postgresql://u@h/db"
    assert normalize_url(default_database_url()).drivername == "postgresql+psycopg"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'x.sqlite'}")
    try:
        with store.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
    finally:
        store.close()
