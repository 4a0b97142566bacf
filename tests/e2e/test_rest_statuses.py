"""Every REST route answers each status COMPAT.md documents for it, over a real server.

One table: a route, the request, the status (and error code) it must get. Statuses that need
their own set-up are tables too: 304 (each read with its own ETag), 429 (each keyed route with
a key allowed one request a minute) and 503 (each route with the database gone: routes that
read the database say UNAVAILABLE, the rest keep answering).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import pytest_asyncio

from domain.access import Scope
from domain.timeframes import Timeframe
from storage.bars_write import upsert_bars
from storage.features import RollupBackend
from tests.e2e.test_rest_http import stock_days
from tests.support.databases import Database, Server, Template, cloned_database
from tests.support.gateway import BODY_LIMIT, auth, live, make_key, settings

SPAN = {"start": "2024-01-02", "end": "2024-01-05"}
TOO_BIG = {"symbol": "AAPL", "padding": "x" * BODY_LIMIT}


@dataclass(frozen=True)
class Call:
    """One request: `path` may name `{victim}`/`{doomed}` (key ids made by the fixture)."""

    method: str
    path: str
    key: str | None = "read"  # a name in the `keys` fixture
    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    content_type: str = "application/json"  # of the body, sent as JSON whatever this says

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def read(path: str, **params: Any) -> Call:
    return Call("GET", path, params=params)


def admin(method: str, path: str, body: Any = None, **params: Any) -> Call:
    return Call(method, "/api/v1/admin" + path, "admin", params, body)


READS = [  # data reads: ETag, 304
    read("/api/v1/status"),
    read("/api/v1/metrics"),
    read("/api/v1/historical/AAPL", **SPAN),
    read("/api/v1/symbols"),
    read("/api/v1/symbols/detailed"),
    read("/api/v1/bars", symbol="AAPL"),
]
OBSERVING = [  # the gateway's own figures: no database
    read("/api/v1/observability/metrics"),
    read("/api/v1/observability/alerts"),
    read("/api/v1/performance/cache"),
    read("/api/v1/performance/cache-stats"),
    read("/api/v1/performance/queries"),
    read("/api/v1/performance/summary"),
    read("/api/v1/performance/bottlenecks"),
]
ADMIN = [
    admin("POST", "/symbols", {"symbol": "NVDA"}),
    admin("GET", "/symbols"),
    admin("GET", "/symbols/MSFT"),
    admin("PUT", "/symbols/MSFT", active="true"),
    admin("PUT", "/symbols/MSFT/timeframes", {"timeframes": ["1d", "1h"]}),
    admin("DELETE", "/symbols/TSLA"),
    admin("POST", "/api-keys", {"name": "new"}),
    admin("GET", "/api-keys"),
    admin("GET", "/api-keys/{victim}/audit"),
    admin("PUT", "/api-keys/{victim}", {"active": True}),
    admin("DELETE", "/api-keys/{doomed}"),
]
OK = {"POST": 201}


def with_key(call: Call, key: str | None) -> Call:
    return Call(call.method, call.path, key, call.params, call.body)


def changed(call: Call, body: Any = None, **params: Any) -> Call:
    return Call(call.method, call.path, call.key, call.params | params, body or call.body)


def other(call: Call, path: str) -> Call:
    return Call(call.method, path, call.key, call.params, call.body)


def labelled(call: Call, content_type: str) -> Call:
    return Call(call.method, call.path, call.key, call.params, call.body, content_type)


WITH_BODY = [c for c in ADMIN if c.body is not None]


CASES: list[tuple[Call, int, str | None]] = [
    (Call("GET", "/", None), 200, None),
    (Call("GET", "/health", None), 200, None),
    *((c, OK.get(c.method, 200), None) for c in READS + OBSERVING + ADMIN),
    # 401: no key, an unknown key
    *((with_key(c, None), 401, "UNAUTHENTICATED") for c in READS + OBSERVING + ADMIN),
    *((with_key(c, "wrong"), 401, "UNAUTHENTICATED") for c in READS + OBSERVING + ADMIN),
    # 403: a reader on admin routes
    *((with_key(c, "read"), 403, "FORBIDDEN") for c in ADMIN),
    # 400: a bad value
    (changed(READS[2], timeframe="2h"), 400, "BAD_USER_INPUT"),
    (changed(READS[2], start="2024-01-05", end="2024-01-04"), 400, "BAD_USER_INPUT"),
    (changed(READS[2], min_quality="1.5"), 400, "BAD_USER_INPUT"),
    (other(READS[2], "/api/v1/historical/A$B"), 400, "BAD_USER_INPUT"),
    (changed(READS[3], asset_class="bond"), 400, "BAD_USER_INPUT"),
    (changed(READS[5], timeframe="2h"), 400, "BAD_USER_INPUT"),
    (changed(READS[5], limit="0"), 400, "BAD_USER_INPUT"),
    (changed(OBSERVING[1], limit="0"), 400, "BAD_USER_INPUT"),
    (changed(OBSERVING[1], limit="1001"), 400, "BAD_USER_INPUT"),
    (changed(ADMIN[0], {"symbol": "A$B"}), 400, "BAD_USER_INPUT"),
    (changed(ADMIN[4], {"timeframes": ["2h"]}), 400, "BAD_USER_INPUT"),
    (changed(ADMIN[6], {"name": ""}), 400, "BAD_USER_INPUT"),
    # 404: unknown symbol or no data, unknown tracked symbol or key, the old test runner
    (changed(READS[2], start="2023-01-02", end="2023-01-05"), 404, "NOT_FOUND"),
    (other(READS[2], "/api/v1/historical/ZZZZ"), 404, "NOT_FOUND"),
    *((other(c, c.path.replace("MSFT", "ZZZZ")), 404, "NOT_FOUND") for c in ADMIN[2:5]),
    (other(ADMIN[5], "/api/v1/admin/symbols/ZZZZ"), 404, "NOT_FOUND"),
    *((other(c, c.path.replace("{victim}", "999999")), 404, "NOT_FOUND") for c in ADMIN[8:10]),
    (other(ADMIN[10], "/api/v1/admin/api-keys/999999"), 404, "NOT_FOUND"),
    (Call("GET", "/api/v1/tests/run", "admin"), 404, "NOT_FOUND"),
    (Call("POST", "/api/v1/tests/run", "admin"), 404, "NOT_FOUND"),
    # 409: tracked already
    (changed(ADMIN[0], {"symbol": "MSFT"}), 409, "CONFLICT"),
    # 413: a body over MAX_REQUEST_BODY_BYTES
    *((changed(c, TOO_BIG), 413, "PAYLOAD_TOO_LARGE") for c in ADMIN if c.body is not None),
    # 422: a missing or malformed parameter or body
    (Call("GET", READS[2].path, params={"start": "2024-01-02"}), 422, "BAD_USER_INPUT"),
    (changed(READS[2], start="yesterday"), 422, "BAD_USER_INPUT"),
    (changed(READS[2], validated_only="maybe"), 422, "BAD_USER_INPUT"),
    (Call("GET", "/api/v1/bars"), 422, "BAD_USER_INPUT"),
    (changed(READS[5], symbol="", symbols=","), 422, "BAD_USER_INPUT"),
    (changed(READS[5], limit="many"), 422, "BAD_USER_INPUT"),
    (changed(OBSERVING[1], limit="x"), 422, "BAD_USER_INPUT"),
    (changed(ADMIN[0], {"asset_class": "stock"}), 422, "BAD_USER_INPUT"),
    (changed(ADMIN[1], active_only="perhaps"), 422, "BAD_USER_INPUT"),
    (changed(ADMIN[3], active="perhaps"), 422, "BAD_USER_INPUT"),
    (changed(ADMIN[4], {"timeframes": "1d"}), 422, "BAD_USER_INPUT"),
    (changed(ADMIN[6], {"scopes": ["read"]}), 422, "BAD_USER_INPUT"),
    (other(ADMIN[8], "/api/v1/admin/api-keys/one/audit"), 422, "BAD_USER_INPUT"),
    (changed(ADMIN[8], limit="ten"), 422, "BAD_USER_INPUT"),
    (changed(ADMIN[9], {"active": "perhaps"}), 422, "BAD_USER_INPUT"),
    # 415: a JSON body labelled as another media type (or not at all); a parameter is kept
    *((labelled(c, "text/plain"), 415, "UNSUPPORTED_MEDIA_TYPE") for c in WITH_BODY),
    *((labelled(c, ""), 415, "UNSUPPORTED_MEDIA_TYPE") for c in WITH_BODY),
    (labelled(ADMIN[6], "application/x-www-form-urlencoded"), 415, "UNSUPPORTED_MEDIA_TYPE"),
    (labelled(ADMIN[9], "Application/JSON; charset=utf-8"), 200, None),
    (labelled(changed(ADMIN[6], {"name": "labelled"}), "application/vnd.api+json"), 201, None),
]


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def status_db(
    server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    async with cloned_database(server, templates) as database:
        await upsert_bars(database.pool, Timeframe.D1, stock_days(), database.backend)
        yield database


@pytest.fixture(scope="module")
def url(status_db: Database) -> Iterator[str]:
    with live(settings(status_db)) as origin:
        yield origin


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def keys(status_db: Database, url: str) -> dict[str, str | None]:
    """Keys by name, the ids of two keys to manage, and MSFT and TSLA tracked."""
    _, reader = await make_key(status_db, "reader", Scope.READ)
    _, boss = await make_key(status_db, "admin", Scope.ADMIN)
    victim, _ = await make_key(status_db, "victim")
    doomed, _ = await make_key(status_db, "doomed")
    async with httpx.AsyncClient(base_url=url, headers=auth(boss)) as client:
        for symbol in ("MSFT", "TSLA"):
            response = await client.post("/api/v1/admin/symbols", json={"symbol": symbol})
            assert response.status_code == 201, response.text
    return {"none": None, "wrong": "mg_" + "x" * 43, "read": reader, "admin": boss,
            "victim": str(victim), "doomed": str(doomed)}  # fmt: skip


async def send(
    client: httpx.AsyncClient, call: Call, keys: dict[str, str | None], key: str | None = None
) -> httpx.Response:
    path = call.path.format(victim=keys["victim"], doomed=keys["doomed"])
    given = key if key is not None else (None if call.key is None else keys[call.key])
    if call.body is None:
        return await client.request(call.method, path, params=call.params, headers=auth(given))
    typed = {"Content-Type": call.content_type} if call.content_type else {}  # "": none
    headers = {**auth(given), **typed}
    return await client.request(
        call.method, path, params=call.params, content=json.dumps(call.body), headers=headers
    )


def expect(response: httpx.Response, status: int, code: str | None) -> None:
    assert response.status_code == status, response.text
    if code is not None:
        assert response.json() == {"detail": response.json()["detail"], "code": code}
        assert response.json()["detail"]


def documented_operation(document: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    """The OpenAPI operation whose path template `path` fills."""
    for template, operations in document["paths"].items():
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path):
            return dict(operations[method.lower()])
    raise AssertionError(f"{method} {path} is not in the document")


@pytest.mark.parametrize(("call", "status", "code"), CASES, ids=lambda v: str(v))
async def test_documented_status(
    url: str, keys: dict[str, str | None], call: Call, status: int, code: str | None
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        expect(await send(client, call, keys), status, code)


@pytest.mark.parametrize("call", READS, ids=str)
async def test_reads_carry_validators_and_a_matching_etag_is_304(
    url: str, keys: dict[str, str | None], call: Call
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        first = await send(client, call, keys)
        assert first.headers["cache-control"] == "private, max-age=300"
        assert {"Authorization", "X-API-Key"} <= set(first.headers["vary"].split(", "))
        tag = first.headers["etag"]
        again = await client.request(
            call.method, call.path, params=call.params,
            headers={**auth(keys["read"]), "If-None-Match": f'"other", {tag}'},
        )  # fmt: skip
        if "timestamp" in first.json():  # the answer carries its time: a new body, a new tag
            assert (
                again.status_code == 200 and again.json()["timestamp"] != first.json()["timestamp"]
            )
            assert again.headers["etag"] != tag
            return
        assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", tag)
        stale = await client.request(
            call.method, call.path, params=call.params,
            headers={**auth(keys["read"]), "If-None-Match": '"other"'},
        )  # fmt: skip
        assert (stale.status_code, stale.json()) == (200, first.json())


@pytest.mark.parametrize("call", OBSERVING + ADMIN[1:2], ids=str)
async def test_live_figures_and_admin_answers_carry_no_validators(
    url: str, keys: dict[str, str | None], call: Call
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        answer = await send(client, call, keys)
    assert answer.status_code == 200 and "etag" not in answer.headers


@pytest.mark.parametrize("call", READS + OBSERVING + ADMIN, ids=str)
async def test_a_key_past_its_rate_is_429(
    status_db: Database, url: str, keys: dict[str, str | None], call: Call
) -> None:
    scope = Scope.ADMIN if call.key == "admin" else Scope.READ
    _, limited = await make_key(status_db, "limited", scope, rate_limit_per_minute=1)
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        first = await send(client, with_key(call, "unused"), keys, key=limited)
        assert first.status_code < 429, first.text
        second = await send(client, with_key(call, "unused"), keys, key=limited)
        document = (await client.get("/openapi.json")).json()
    expect(second, 429, "RATE_LIMITED")
    assert 1 <= int(second.headers["retry-after"]) <= 60
    assert first.headers["ratelimit-policy"] == second.headers["ratelimit-policy"]
    assert first.headers["ratelimit-policy"] == '"key";q=1;w=60'
    assert re.fullmatch(r'"key";r=0;t=(\d+)', second.headers["ratelimit"])
    operation = documented_operation(document, call.method, second.request.url.path)
    assert set(operation["responses"]["429"]["headers"]) == {
        "Retry-After",
        "RateLimit",
        "RateLimit-Policy",
    }


@pytest_asyncio.fixture(loop_scope="session")
async def gone_db(
    server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    async with cloned_database(server, templates) as database:
        yield database


async def test_with_the_database_gone_reads_are_503_and_the_gateway_figures_still_answer(
    gone_db: Database, server: Server
) -> None:
    _, boss = await make_key(gone_db, "admin", Scope.ADMIN)
    keys: dict[str, str | None] = {"read": None, "admin": boss, "victim": "1", "doomed": "2"}
    name = gone_db.name
    with live(settings(gone_db, anonymous_reads=True)) as origin:
        async with httpx.AsyncClient(base_url=origin, timeout=30) as client:
            assert (await send(client, ADMIN[1], keys)).status_code == 200  # the key is cached
            admin_conn = await server.admin()
            try:  # no new connections, the open ones cut
                await admin_conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
                await admin_conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1",
                    name,
                )
                health = await client.get("/health")
                assert (health.status_code, health.json()["status"]) == (503, "degraded")
                for call in [*READS, ADMIN[1], ADMIN[2], ADMIN[7]]:
                    expect(await send(client, call, keys), 503, "UNAVAILABLE")
                for call in [Call("GET", "/", None), *OBSERVING]:
                    assert (await send(client, call, keys)).status_code == 200, call
            finally:
                await admin_conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
                await admin_conn.close()
