"""Shared fixtures of the store tests (imported by the other ``test_store_*`` modules).

``database_url`` runs a test on SQLite (a temporary file) and on PostgreSQL (127.0.0.1:5432,
user ``postgres``, database ``test``): one uniquely named database per test process, one fresh
schema per test, both dropped afterwards. PostgreSQL tests skip, saying why, only when the
server cannot be reached.

``store`` is that database upgraded to the newest migration, made the quick way: on SQLite a
copy of a file migrated once per test process; on PostgreSQL the statements that
``Store.upgrade`` ran on an empty schema once per test process (recorded as SQLAlchemy sent
them), run again in one transaction. The migrations' many small commits cost more than either.
``Store.upgrade`` is then called as before and finds the schema at the newest revision.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event
from sqlalchemy.engine import make_url

from callwatch import cli
from callwatch.capture import CaptureStats, Packet, read_capture
from callwatch.config import load_site
from callwatch.pipeline import CallPipeline, Output
from callwatch.site import SiteConfig
from callwatch.store import Store

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "sip_fixtures"
SITE_FILE = ROOT / "examples" / "site.toml"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/{db}?options=-csearch_path%3D{schema}"


def pcaps() -> list[Path]:
    return sorted(FIXTURES.glob("*.pcap"))


@functools.cache
def site() -> SiteConfig:
    return load_site(SITE_FILE)


@functools.cache
def packets(path: Path) -> tuple[Packet, ...]:
    return tuple(read_capture(path, CaptureStats()))


def outputs(path: Path) -> list[Output]:
    """Everything the pipeline hands out for one capture, as the service would store it."""
    pipe = CallPipeline(site())
    out: list[Output] = []
    for packet in packets(path):
        out.extend(pipe.push(packet))
    out.extend(pipe.flush())
    return out


@functools.cache
def ingest_lines(path: Path) -> tuple[str, ...]:
    """The JSON lines ``callwatch ingest --config examples/site.toml FILE`` prints."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert cli.main(["ingest", "--config", str(SITE_FILE), str(path)]) == 0
    return tuple(buf.getvalue().splitlines())


def expected_rows(paths: list[Path]) -> list[dict]:
    """The ingest JSON of every capture, in export order (start time, call id)."""
    rows = [json.loads(line) for p in paths for line in ingest_lines(p)]
    return sorted(rows, key=lambda r: (r["started_at"], r["call"]))


@functools.cache
def _pg_database() -> str | None:
    try:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            name = f"callwatch_test_{uuid.uuid4().hex[:10]}"
            conn.execute(f'CREATE DATABASE "{name}"')
            return name
    except psycopg.OperationalError:
        return None


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    name = _pg_database()
    if name is None:
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432 (user postgres, db test)")
    yield name


def _drop_database_at_exit() -> None:
    name = _pg_database() if _pg_database.cache_info().currsize else None
    if name:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session", autouse=True)
def _pg_cleanup() -> Iterator[None]:
    yield
    _drop_database_at_exit()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'callwatch.sqlite'}"
        return
    db = request.getfixturevalue("pg_database")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN.replace("dbname=test", f"dbname={db}"), autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    yield PG_URL.format(db=db, schema=schema)
    with psycopg.connect(PG_ADMIN.replace("dbname=test", f"dbname={db}"), autocommit=True) as c:
        c.execute(f'DROP SCHEMA "{schema}" CASCADE')


@functools.cache
def _migrated_sqlite(folder: Path) -> Path:
    """A SQLite file upgraded to the newest migration, made once per test process."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "migrated.sqlite"
    st = Store.open(f"sqlite:///{path}")
    st.upgrade()
    st.close()
    return path


def _pg_conninfo(url: str) -> str:
    """psycopg's connection string for a ``PG_URL`` (its database and search path)."""
    parsed = make_url(url)
    return f"{PG_ADMIN.replace('dbname=test', f'dbname={parsed.database}')} " + (
        f"options='{parsed.query['options']}'"
    )


@functools.cache
def _pg_migration(db: str) -> tuple[tuple[str, Any], ...]:
    """Every statement ``Store.upgrade`` sends to an empty PostgreSQL schema, recorded once per
    test process in a scratch schema of ``db`` (dropped afterwards)."""
    schema = f"m_{uuid.uuid4().hex[:12]}"
    admin = PG_ADMIN.replace("dbname=test", f"dbname={db}")
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE SCHEMA "{schema}"')
    sent: list[tuple[str, Any]] = []
    st = Store.open(PG_URL.format(db=db, schema=schema))

    @event.listens_for(st.engine, "before_cursor_execute")
    def record(conn: Any, cursor: Any, statement: str, params: Any, *rest: Any) -> None:
        assert schema not in statement  # replayable in another schema
        sent.append((statement, dict(params) if params else None))

    try:
        st.upgrade()
    finally:
        st.close()
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP SCHEMA "{schema}" CASCADE')
    return tuple(sent)


@pytest.fixture
def store(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> Iterator[Store]:
    if database_url.startswith("sqlite:"):
        template = _migrated_sqlite(tmp_path_factory.getbasetemp() / "migrated-template")
        path = tmp_path / "callwatch.sqlite"
        assert database_url == f"sqlite:///{path}"
        with (
            contextlib.closing(sqlite3.connect(template)) as source,
            contextlib.closing(sqlite3.connect(path)) as copy,
        ):
            source.backup(copy)
    else:
        migration = _pg_migration(make_url(database_url).database or "")
        with psycopg.connect(_pg_conninfo(database_url)) as conn:  # one transaction
            for statement, params in migration:
                conn.execute(statement, params)
    st = Store.open(database_url, site=site().name)
    st.upgrade()
    yield st
    st.close()
