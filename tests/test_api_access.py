"""Who may call what: no token → 401, a role or department not covered → 403."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

import test_api_fixtures as fa
import test_store_fixtures as fx
from callwatch.api import ApiContext, TokenStore
from callwatch.http import create_app
from callwatch.service import Service
from callwatch.settings import Settings
from callwatch.store import Store

api = fa.api
filled_store = fa.filled_store
_filled_file = fa._filled_file

GETS = [
    "/api/departments",
    "/api/compliance",
    "/api/calls",
    "/api/calls/answered3@callwatch.test",
    "/api/breaches",
    "/api/callbacks",
    "/api/reports/weekly?week=2026-W48",
    "/api/live",
    "/readyz",
    "/metrics",
]

# role → paths it may read (everything else under /api is 403 for it)
ALLOWED = {
    "admin": set(GETS),
    "lead_a": set(GETS) - {"/readyz", "/metrics"},
    "trainer": {"/api/departments", "/api/calls/answered3@callwatch.test", "/api/breaches"},
}


@pytest.mark.parametrize("path", GETS)
async def test_no_token_is_401_with_a_challenge(api: fa.Api, path: str) -> None:
    r = await api.get(path, who=None)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"].startswith("Bearer")
    assert "token" in r.json()["detail"]


async def test_only_healthz_answers_without_a_token(api: fa.Api) -> None:
    assert (await api.get("/healthz", who=None)).json() == {"status": "ok"}
    for path in ("/openapi.json", "/docs", "/redoc"):  # not served unless opened by setting
        assert (await api.get(path, who=None)).status_code == 404, path
        assert (await api.get(path, who="admin")).status_code == 404, path
    document = api.app.openapi()
    paths = set(document["paths"]) - {"/healthz"}
    assert {"/api/calls", "/api/live", "/readyz", "/metrics"} <= paths
    for path in sorted(paths):
        url = path.replace("{call_id}", "answered3@callwatch.test")
        for method in document["paths"][path]:
            r = await api.client.request(method.upper(), url)
            assert r.status_code == 401, (method, path, r.status_code)


@pytest.mark.parametrize(
    "header",
    ["Bearer nonsense", "Bearer cw_0123456789ab_" + "x" * 43, "Basic YWRtaW46YWRtaW4=", "Bearer"],
)
async def test_bad_tokens_are_401(api: fa.Api, header: str) -> None:
    r = await api.client.get("/api/calls", headers={"Authorization": header})
    assert r.status_code == 401
    assert "Bearer" in r.headers["www-authenticate"]


async def test_a_revoked_token_is_refused_at_once(api: fa.Api) -> None:
    assert (await api.get("/api/calls")).status_code == 200
    TokenStore(api.store.engine).revoke(api.tokens["admin"])
    r = await api.get("/api/calls")
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]


@pytest.mark.parametrize("who", sorted(ALLOWED))
async def test_each_role_reads_only_its_endpoints(api: fa.Api, who: str) -> None:
    for path in GETS:
        if path == "/api/live":
            continue  # an endless stream: see test_api_live
        r = await api.get(path, who=who)
        want = 200 if path in ALLOWED[who] else 403
        if path == "/readyz" and want == 200:
            want = 503  # authorised; the service is not started, so not ready
        assert r.status_code == want, (who, path, r.status_code, r.text[:200])


async def test_trainer_may_not_post_callbacks(api: fa.Api) -> None:
    body = {"number": "0613398731", "due_at": "2026-11-23T12:00:00Z"}
    assert (await api.post("/api/callbacks", body, who="trainer")).status_code == 403


async def test_api_docs_can_be_opened_by_setting(
    filled_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CALLWATCH_API_DOCS", "open")
    app, _, _ = fa.make_app(filled_store, tmp_path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert (await c.get(path)).status_code == 200, path
    assert create_app(Service(fx.site(), Settings(data_dir=tmp_path)), api_docs=False)


async def test_monitoring_can_be_opened_by_setting(api: fa.Api) -> None:
    assert (await api.get("/metrics", who=None)).status_code == 401
    api.context.monitoring_open = True
    assert (await api.get("/metrics", who=None)).status_code == 200


# -- a lead and the other department --------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/api/calls?department=세무",
        "/api/breaches?department=세무",
        "/api/callbacks?department=세무",
        "/api/compliance?department=세무",
        "/api/reports/weekly?week=2026-W48&department=세무",
        "/api/calls/internal@callwatch.test",
    ],
)
async def test_a_lead_cannot_read_another_department(api: fa.Api, path: str) -> None:
    r = await api.get(path, who="lead_a")
    assert r.status_code == 403, r.text
    assert (await api.get(path, who="lead_b")).status_code == 200
    assert (await api.get(path, who="admin")).status_code == 200


async def test_a_lead_lists_only_their_department(api: fa.Api) -> None:
    mine = (await api.get("/api/calls", who="lead_b", limit=500)).json()["items"]
    everything = (await api.get("/api/calls", limit=500)).json()["items"]
    assert mine and {c["department"] for c in mine} == {"세무"}
    assert len(everything) > len(mine)
    for path in ("/api/compliance", "/api/departments"):
        names = {d.get("department", d.get("name")) for d in (await api.get(path, "lead_b")).json()}
        assert names == {"세무"}, path
    callbacks = (await api.get("/api/callbacks", who="lead_b")).json()["items"]
    assert callbacks == []  # every fixture callback belongs to 민원
    assert (await api.get("/api/callbacks", who="lead_a")).json()["items"]


async def test_a_lead_cannot_move_another_departments_callback(api: fa.Api) -> None:
    body = {
        "number": "010-1234-5678",
        "asked_at": "2026-11-23T11:20:00Z",
        "due_at": "2026-11-23T15:00:00Z",
    }
    r = await api.post("/api/callbacks", body, who="lead_b")
    assert r.status_code == 404, r.text
    assert (await api.post("/api/callbacks", body, who="lead_a")).status_code == 200


@pytest.mark.parametrize(
    "url",
    [
        "postgresql+psycopg://postgres@127.0.0.1:1/nowhere",  # nothing listens on port 1
        "sqlite:///{tmp}/never-migrated.sqlite",  # no api_tokens table
    ],
)
async def test_a_store_that_cannot_answer_is_503_never_500(url: str, tmp_path: Path) -> None:
    store = Store.open(url.format(tmp=tmp_path), site=fx.site().name)
    ctx = ApiContext(store=store, site=fx.site())
    app = create_app(Service(fx.site(), Settings(data_dir=tmp_path / "data")))
    app.state.api = ctx
    headers = {"Authorization": "Bearer cw_0123456789ab_" + "x" * 43}
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        for path in ("/api/calls", "/metrics"):
            r = await c.get(path, headers=headers)
            assert r.status_code == 503, (path, r.text)
            assert "store" in r.json()["detail"]
    store.close()


async def test_no_store_at_all_is_503_for_the_api(tmp_path: Path) -> None:
    app = create_app(Service(fx.site(), Settings(data_dir=tmp_path / "data")))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
        r = await c.get("/api/calls", headers={"Authorization": "Bearer x"})
        assert r.status_code == 503 and "store" in r.json()["detail"]
        assert (await c.get("/healthz")).status_code == 200
