"""Shared fixtures of the store tests (imported by the other ``test_store_*`` modules).

``database_url`` runs a test on SQLite (a temporary file) and on PostgreSQL (127.0.0.1:5432,
user ``postgres``, database ``test``): one uniquely named database per test module, one fresh
schema per test, both dropped afterwards. PostgreSQL tests skip, saying why, only when the
server cannot be reached.
"""

from __future__ import annotations

import contextlib
import functools
import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

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


@pytest.fixture
def store(database_url: str) -> Iterator[Store]:
    st = Store.open(database_url, site=site().name)
    st.upgrade()
    yield st
    st.close()
