"""API tokens: created once, kept as a hash, checked, listed, revoked; and the command line."""

from __future__ import annotations

import contextlib
import hashlib
import io
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

import test_api_fixtures as fa
import test_store_fixtures as fx
from callwatch import cli
from callwatch.api import Principal, TokenError, TokenStore
from callwatch.store import Store
from callwatch.store.auth_tables import api_tokens
from callwatch.timefmt import utc

filled_store = fa.filled_store
_filled_file = fa._filled_file


@pytest.fixture
def store(tmp_path: Path) -> Store:
    st = Store.open(f"sqlite:///{tmp_path / 'tokens.sqlite'}")
    st.upgrade()
    return st


def test_only_the_hash_is_stored(store: Store) -> None:
    record, token = TokenStore(store.engine, clock=lambda: 1_000_000).create("admin", name="ops")
    with store.engine.connect() as conn:
        row = conn.execute(select(api_tokens)).mappings().one()
    assert token.startswith(f"cw_{record.id}_") and len(token) > 50
    assert row["digest"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(dict(row)) and token.split("_", 2)[2] not in str(dict(row))
    assert row["created_us"] == 1_000_000 and row["name"] == "ops"


def test_verify_gives_the_holder_and_refuses_lookalikes(store: Store) -> None:
    tokens = TokenStore(store.engine)
    record, token = tokens.create("lead", ["민원", "세무", "민원"])
    assert record.departments == ("민원", "세무")
    assert tokens.verify(token) == Principal(record.id, "lead", frozenset({"민원", "세무"}))
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    other_id = f"cw_{'0' * 12}_{token.split('_', 2)[2]}"
    for bad in (forged, other_id, "", token + "x", token.upper(), "cw_" + record.id):
        assert tokens.verify(bad) is None, bad


def test_revoke_by_id_or_token_and_list(store: Store) -> None:
    tokens = TokenStore(store.engine, clock=iter(range(1, 100)).__next__)
    a, token_a = tokens.create("admin")
    b, token_b = tokens.create("trainer")
    assert tokens.revoke(a.id).revoked_us is not None
    assert tokens.revoke(token_b).id == b.id
    assert tokens.verify(token_a) is None and tokens.verify(token_b) is None
    listed = tokens.list()
    assert [t.id for t in listed] == [a.id, b.id] and not any(t.active for t in listed)
    first = listed[0].revoked_us
    assert tokens.revoke(a.id).revoked_us == first  # revoking twice keeps the first time
    with pytest.raises(TokenError, match="no token"):
        tokens.revoke("000000000000")


@pytest.mark.parametrize(
    ("role", "departments", "words"),
    [
        ("root", [], "unknown role"),
        ("lead", [], "needs at least one"),
        ("lead", ["  "], "needs at least one"),
        ("trainer", ["민원"], "lead tokens only"),
    ],
)
def test_bad_token_requests(store: Store, role: str, departments: list[str], words: str) -> None:
    with pytest.raises(TokenError, match=words):
        TokenStore(store.engine).create(role, departments)


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(list(args))
    return code, out.getvalue(), err.getvalue()


async def test_cli_token_works_against_the_api(
    filled_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "api.sqlite"
    monkeypatch.setenv("CALLWATCH_DATABASE_URL", f"sqlite:///{db}")
    site = str(fx.SITE_FILE)
    code, out, _ = run_cli(
        "token", "create", "--role", "lead", "--department", "세무", "--name", "세무 팀장",
        "--config", site,
    )  # fmt: skip
    assert code == 0 and "departments: 세무" in out
    token = out.strip().splitlines()[-1]
    app, _, _ = fa.make_app(filled_store, tmp_path)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        mine = await c.get("/api/calls", headers=headers)
        assert mine.status_code == 200 and mine.json()["items"]
        assert {x["department"] for x in mine.json()["items"]} == {"세무"}
        assert (await c.get("/api/calls?department=민원", headers=headers)).status_code == 403
        code, out, _ = run_cli("token", "list")
        assert code == 0 and "세무 팀장" in out and token not in out
        token_id = token.split("_")[1]
        assert run_cli("token", "revoke", token_id)[0] == 0
        assert (await c.get("/api/calls", headers=headers)).status_code == 401


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["token", "create", "--role", "lead"], "needs at least one --department"),
        (["token", "create", "--role", "lead", "--department", "없는과", "--config", "SITE"],
         "unknown department"),
        (["token", "revoke", "nope"], "no token"),
    ],
)  # fmt: skip
def test_cli_token_errors_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], words: str
) -> None:
    monkeypatch.setenv("CALLWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    args = [str(fx.SITE_FILE) if a == "SITE" else a for a in args]
    code, out, err = run_cli(*args)
    assert code == 2 and words in err and out == ""


MINUTE = 60_000_000


def test_an_expired_token_is_refused_like_a_revoked_one(store: Store) -> None:
    now = [1_000 * MINUTE]
    tokens = TokenStore(store.engine, clock=lambda: now[0])
    record, token = tokens.create("trainer", expires_us=now[0] + 10 * MINUTE)
    assert record.expires_us == now[0] + 10 * MINUTE and record.state(now[0]) == "active"
    assert tokens.verify(token) is not None and tokens.holder(record.id) is not None
    now[0] += 10 * MINUTE
    assert tokens.verify(token) is None and tokens.holder(record.id) is None
    assert tokens.list()[0].state(now[0]) == "expired"
    with pytest.raises(TokenError, match="in the future"):
        tokens.create("admin", expires_us=now[0])


def test_each_use_is_recorded_at_most_once_a_minute(store: Store) -> None:
    now = [1_000 * MINUTE]
    tokens = TokenStore(store.engine, clock=lambda: now[0])
    record, token = tokens.create("admin")
    assert tokens.list()[0].last_used_us is None
    start = now[0]
    assert tokens.verify(token) is not None
    assert tokens.list()[0].last_used_us == start
    now[0] += MINUTE - 1
    tokens.holder(record.id)  # a page session counts too
    assert tokens.list()[0].last_used_us == start
    now[0] += 1
    tokens.holder(record.id)
    assert tokens.list()[0].last_used_us == start + MINUTE
    tokens.verify(token + "x")  # a refused token is no use
    assert tokens.list()[0].last_used_us == start + MINUTE


def test_a_token_store_upgraded_from_0002_keeps_its_tokens(tmp_path: Path) -> None:
    from callwatch.store.database import migrate

    old = Store.open(f"sqlite:///{tmp_path / 'old.sqlite'}")
    migrate(old.engine, "0002")
    with old.engine.begin() as conn:
        conn.execute(
            api_tokens.insert().values(
                id="0123456789ab",
                digest=hashlib.sha256(b"cw_0123456789ab_" + b"s" * 43).hexdigest(),
                role="admin",
                departments=[],
                name="before",
                created_at=utc(1),
                created_us=1,
            )
        )
    old.upgrade()
    tokens = TokenStore(old.engine)
    assert tokens.verify("cw_0123456789ab_" + "s" * 43) is not None
    listed = tokens.list()[0]
    assert listed.expires_us is None and listed.last_used_us is not None
    old.close()


def test_expiry_text_spans_dates_and_times_on_the_site_clock() -> None:
    from callwatch.api.token_times import ExpiryError, local_time, parse_expiry
    from callwatch.timefmt import parse_iso

    now = parse_iso("2026-11-25T05:30:00Z")  # 14:30 in Seoul
    assert parse_expiry("90d", now, "Asia/Seoul") == now + 90 * 86_400_000_000
    assert parse_expiry("12h", now, "Asia/Seoul") == now + 12 * 3_600_000_000
    assert parse_expiry("2W", now, "Asia/Seoul") == now + 14 * 86_400_000_000
    # a date: valid through that day in Seoul (until 00:00 KST the next day)
    assert parse_expiry("2027-01-31", now, "Asia/Seoul") == parse_iso("2027-01-31T15:00:00Z")
    assert parse_expiry("2027-01-31T18:00", now, "Asia/Seoul") == parse_iso("2027-01-31T09:00:00Z")
    assert parse_expiry("2027-01-31T18:00Z", now, "Asia/Seoul") == parse_iso("2027-01-31T18:00:00Z")
    for bad in ("soon", "0d", "-3d", "2027-02-30", ""):
        with pytest.raises(ExpiryError):
            parse_expiry(bad, now, "Asia/Seoul")
    assert local_time(now, "Asia/Seoul") == "2026-11-25 14:30 KST"
    assert local_time(None, "Asia/Seoul", "never") == "never"


def test_cli_token_list_shows_expiry_last_use_and_state_on_the_site_clock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'db.sqlite'}")
    site = str(fx.SITE_FILE)
    code, out, _ = run_cli(
        "token", "create", "--role", "admin", "--name", "ops", "--expires", "2030-01-31",
        "--config", site,
    )  # fmt: skip
    assert code == 0 and "expires: 2030-02-01 00:00 KST" in out
    token = out.strip().splitlines()[-1]
    code, out, _ = run_cli("token", "create", "--role", "trainer", "--config", site)
    assert "expires: never" in out
    store = Store.open(f"sqlite:///{tmp_path / 'db.sqlite'}")
    TokenStore(store.engine).verify(token)
    store.close()
    code, out, err = run_cli("token", "list", "--config", site)
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:4] == ["id", "role", "departments", "created"]
    ops = next(line for line in lines if line.endswith("ops"))
    assert "2030-02-01 00:00 KST" in ops and "active" in ops
    assert ops.count("KST") == 3  # created, expires, last used: on the site's clock
    assert "Z " not in out and "T" not in ops.split()[3]
    assert "(times on the site's clock, Asia/Seoul)" in err
    code, _, err = run_cli("token", "create", "--role", "admin", "--expires", "someday")
    assert code == 2 and "--expires 'someday' is not an expiry" in err
