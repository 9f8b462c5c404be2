"""Shared helpers of the page tests (imported by ``test_web_pages`` and ``test_web_browser``):
a demo store built once per test process from the fixtures and copied for each module that asks,
tokens of each role, and the service's real application (``create_app``) over that store with a
fixed clock."""

from __future__ import annotations

import contextlib
import functools
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

from fastapi import FastAPI
from sqlalchemy import select

from callwatch.api.auth import TokenStore
from callwatch.api.context import ApiContext
from callwatch.config import load_site
from callwatch.demo import build_demo
from callwatch.http import create_app
from callwatch.site import SiteConfig
from callwatch.store import Store, tables
from callwatch.timefmt import parse_iso
from callwatch.web import WebContext

ROOT = Path(__file__).resolve().parent.parent
SITE_FILE = ROOT / "examples" / "site.toml"
ANCHOR = parse_iso("2026-11-25T05:30:00Z")  # a Wednesday, 14:30 in Seoul
DEMO_WEEKS = 3
DEMO_CALLS_PER_DAY = 14


@functools.cache
def site() -> SiteConfig:
    return load_site(SITE_FILE)


@dataclass
class DemoWorld:
    """A filled store and a token of each role (the lead reads 세무 only)."""

    store: Store
    tokens: dict[str, str]


@functools.cache
def _template(folder: Path) -> tuple[Path, tuple[tuple[str, str], ...]]:
    """The demo store and its tokens, built once per test process in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "demo.sqlite"
    store = Store.open(f"sqlite:///{path}", site=site().name)
    build_demo(store, site(), ANCHOR, weeks=DEMO_WEEKS, calls_per_day=DEMO_CALLS_PER_DAY)
    book = TokenStore(store.engine)
    tokens = (
        ("admin", book.create("admin")[1]),
        ("lead", book.create("lead", ["세무"])[1]),
        ("trainer", book.create("trainer")[1]),
    )
    store.close()
    return path, tokens


def make_world(folder: Path) -> DemoWorld:
    """A demo store of its own in ``folder``: a copy of the one :func:`_template` built (a
    module's tests may write to theirs without another module seeing it)."""
    template, tokens = _template(folder.parent / "demo-template")
    path = folder / "demo.sqlite"
    with (
        contextlib.closing(sqlite3.connect(template)) as source,
        contextlib.closing(sqlite3.connect(path)) as copy,
    ):
        source.backup(copy)
    return DemoWorld(Store.open(f"sqlite:///{path}", site=site().name), dict(tokens))


def make_app(world: DemoWorld) -> FastAPI:
    """The service's application over the demo store, its clock fixed at ``ANCHOR``."""
    service = SimpleNamespace(site=site(), sinks=[], metrics=None, readiness=dict)
    api = ApiContext(store=world.store, site=site(), monitoring_open=True)
    app = create_app(service, api=api)  # type: ignore[arg-type]
    verify = TokenStore(world.store.engine).verify
    app.state.web = WebContext(site(), world.store, verify, clock=lambda: ANCHOR)
    return app


def call_ids(store: Store, prefix: str, department: str | None = None) -> list[str]:
    """Stored call ids made from the fixture whose Call-ID starts with ``prefix``."""
    c = tables.calls.c
    query = select(c.id).where(c.id.like(f"{prefix}%")).order_by(c.started_us.desc())
    if department is not None:
        query = query.where(c.department == department)
    with store.engine.connect() as conn:
        return [row[0] for row in conn.execute(query)]
