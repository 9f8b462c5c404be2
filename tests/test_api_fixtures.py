"""Shared fixtures of the API tests (imported by the other ``test_api_*`` modules).

The store is filled the way the service fills it: every ``sip_fixtures`` capture through the
pipeline, with its raw SIP messages, into a temporary SQLite file (or a fresh PostgreSQL
schema, through ``test_store_fixtures.database_url``). The app is the service's own
``create_app`` with an :class:`ApiContext` on that store, and one token per role.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

import test_store_fixtures as fx
from callwatch.api import ApiContext, Broadcaster, TokenStore
from callwatch.cli import _raw_message
from callwatch.http import create_app
from callwatch.service import Service
from callwatch.settings import Settings
from callwatch.store import Store

CALLER_NUMBERS = ("01012345678", "0613398731")
"""The customers' numbers in the fixtures: a trainer must never see them."""

_SEPARATED = re.compile(r"(?<=\d)[-. ()]+(?=\d)")


# The captures behind the API tests' figures: fixtures added for other subjects later do not
# change what these tests count.
API_CAPTURES = [
    "agent_hangs_up_first",
    "answered_1st_ring",
    "answered_3rd_ring",
    "attended_transfer",
    "b2bua_pair",
    "b2bua_pair_noheader",
    "blind_transfer",
    "busy",
    "caller_cancels",
    "fragmented_invite",
    "hep_kamailio",
    "internal_call",
    "ipv6_call",
    "ivr_then_staff",
    "missed_then_callback_2h",
    "missed_then_callback_40min",
    "outbound_call",
    "ring_group_fork",
    "ring_timeout",
    "tcp_call",
    "transfer_slow",
]


def api_captures() -> list[Path]:
    return [fx.FIXTURES / f"{name}.pcap" for name in API_CAPTURES]


def fill(store: Store) -> None:
    """The API captures, their outputs and raw SIP, saved as the service saves them."""
    store.sync_directory(fx.site())
    for path in api_captures():
        raw = [m for packet in fx.packets(path) for m in _raw_message(packet)]
        store.save([*fx.outputs(path), *raw])


def unmasked_numbers(text: str) -> list[str]:
    """The fixture caller numbers found in ``text`` in any format: with or without
    separators, with ``+82`` instead of the leading 0."""
    digits = _SEPARATED.sub("", text)
    return [n for n in CALLER_NUMBERS if n[1:] in digits]


@dataclass
class Api:
    """An app on a filled store, with a client and a token per role."""

    app: FastAPI
    store: Store
    context: ApiContext
    tokens: dict[str, str]
    client: httpx.AsyncClient

    async def get(self, path: str, who: str | None = "admin", **params: object) -> httpx.Response:
        headers = {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}
        return await self.client.get(path, headers=headers, params=params or None)

    async def post(self, path: str, body: dict, who: str | None = "admin") -> httpx.Response:
        headers = {} if who is None else {"Authorization": f"Bearer {self.tokens[who]}"}
        return await self.client.post(path, headers=headers, json=body)


def make_app(store: Store, tmp: Path) -> tuple[FastAPI, ApiContext, dict[str, str]]:
    """The service's app on ``store`` and a token for each role (lead_a: 민원, lead_b: 세무)."""
    site = fx.site()
    service = Service(site, Settings(data_dir=tmp / "data"))
    app = create_app(service)
    ctx = ApiContext(store=store, site=site, live=Broadcaster(site), book=service.pipeline.book)
    app.state.api = ctx
    tokens = TokenStore(store.engine)
    made = {
        "admin": tokens.create("admin", name="test admin")[1],
        "lead_a": tokens.create("lead", ["민원"])[1],
        "lead_b": tokens.create("lead", ["세무"])[1],
        "trainer": tokens.create("trainer")[1],
    }
    return app, ctx, made


@pytest.fixture(scope="session")
def _filled_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file filled once per session; each test gets a copy."""
    path = tmp_path_factory.mktemp("api-template") / "api.sqlite"
    store = Store.open(f"sqlite:///{path}", site=fx.site().name)
    store.upgrade()
    fill(store)
    store.close()
    return path


@pytest.fixture
def filled_store(_filled_file: Path, tmp_path: Path) -> Iterator[Store]:
    copy = tmp_path / "api.sqlite"
    shutil.copyfile(_filled_file, copy)
    store = Store.open(f"sqlite:///{copy}", site=fx.site().name)
    yield store
    store.close()


@pytest.fixture
async def api(filled_store: Store, tmp_path: Path) -> AsyncIterator[Api]:
    app, ctx, tokens = make_app(filled_store, tmp_path)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://callwatch") as client:
        yield Api(app, filled_store, ctx, tokens, client)
