"""The gateway over real HTTP: a uvicorn server on 127.0.0.1, its middleware, and who gets in.

Servers and their database are made once per module (starting one takes a migration check and
a pool); each test uses keys of its own, so tests never see each other's changes.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import pytest_asyncio

from domain.access import Scope
from domain.timeframes import Timeframe
from resolvers.fetch_gate import FetchNotice
from storage import api_keys
from storage.bars_write import BarIn, upsert_bars
from storage.features import RollupBackend
from tests.fakes.polygon_server import FakePolygon, make_bars
from tests.support.databases import Database, Server, Template, cloned_database
from tests.support.gateway import BODY_LIMIT, ORIGIN, auth, live, make_key, settings

NY = ZoneInfo("America/New_York")
READ = '{ bars(ticker: "AAPL", timeframe: D1, limit: 2) { time close } }'
BIG_READ = '{ bars(ticker: "AAPL", timeframe: D1, limit: 300) { time open high low close } }'
ME = "{ me { id name keyPreview scopes active expiresAt rateLimitPerMinute } }"
CALLERS = ("none", "wrong", "revoked", "expired", "read", "fetch", "admin")
REFUSED_BY_MIDDLEWARE = ("wrong", "revoked", "expired")
GRAPHQL_GET = "/graphql?query=%7B__typename%7D"
HEAD_AS_GET = ["/health", "/", "/api/v1/status", "/api/v1/symbols", "/openapi.json", "/docs",
               "/dashboard", "/livez", GRAPHQL_GET]  # fmt: skip
WRONG_METHODS = [  # method, path, the methods its routes take
    ("PUT", "/graphql", {"GET", "HEAD", "POST"}),
    ("DELETE", "/graphql", {"GET", "HEAD", "POST"}),
    ("POST", "/dashboard", {"GET", "HEAD"}),
    ("PATCH", "/api/v1/status", {"GET", "HEAD"}),
    ("POST", "/health", {"GET", "HEAD"}),
    ("DELETE", "/api/v1/admin/symbols", {"GET", "HEAD", "POST"}),  # two routes, one path
]
MISSING_FILES = ["/dashboard/nothing.js", "/dashboard/vendor/lightweight-charts@1.0.0/x.js"]


def aapl_days() -> list[BarIn]:
    day, bars = date(2023, 1, 2), list[BarIn]()
    while day < date(2024, 7, 1):
        if day.weekday() < 5:
            t = datetime(day.year, day.month, day.day, tzinfo=NY).astimezone(UTC)
            price = 100 + len(bars) * 0.25
            bars.append(BarIn("AAPL", t, price, price + 1, price - 1, price + 0.5, 1e6, price, 9))
        day += timedelta(days=1)
    return bars


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def gw_db(
    server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    async with cloned_database(server, templates) as database:
        await upsert_bars(database.pool, Timeframe.D1, aapl_days(), database.backend)
        yield database


@pytest.fixture(scope="module")
def strict_url(gw_db: Database) -> Iterator[str]:
    """Keys required for everything; no upstream; CORS for ORIGIN only."""
    with live(settings(gw_db)) as url:
        yield url


@pytest.fixture(scope="module")
def open_url(gw_db: Database) -> Iterator[str]:
    """ANONYMOUS_READS=true."""
    with live(settings(gw_db, anonymous_reads=True)) as url:
        yield url


@pytest.fixture(scope="module")
def fetching_url(gw_db: Database, fake_polygon_server: FakePolygon) -> Iterator[str]:
    """Fetch-on-miss from the fake Polygon."""
    config = settings(
        gw_db,
        polygon_api_key=fake_polygon_server.api_key,
        polygon_base_url=fake_polygon_server.url,
        polygon_requests_per_minute=0,
    )
    with live(config) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


@pytest_asyncio.fixture(loop_scope="session")
async def keys(gw_db: Database) -> dict[str, str | None]:
    """A raw key for each kind of caller (fresh for every test)."""
    _, read = await make_key(gw_db, "reader", Scope.READ)
    _, fetch = await make_key(gw_db, "fetcher", Scope.FETCH)
    _, admin = await make_key(gw_db, "admin", Scope.ADMIN)
    revoked_id, revoked = await make_key(gw_db, "revoked", Scope.ADMIN)
    await api_keys.set_active(gw_db.pool, revoked_id, False)
    _, expired = await make_key(
        gw_db, "expired", Scope.ADMIN, expires_at=datetime.now(UTC) - timedelta(seconds=1)
    )
    return {
        "none": None,
        "wrong": "mg_" + "x" * 43,
        "revoked": revoked,
        "expired": expired,
        "read": read,
        "fetch": fetch,
        "admin": admin,
    }


async def gql(
    client: httpx.AsyncClient,
    url: str,
    query: str,
    variables: dict[str, Any] | None = None,
    key: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    return await client.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables or {}},
        headers={**auth(key), **(headers or {})},
    )


def codes(response: httpx.Response) -> list[str]:
    return [e["extensions"]["code"] for e in response.json().get("errors") or []]


def assert_refused_by_middleware(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["code"] == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"].startswith("Bearer")


# -- the endpoints ---------------------------------------------------------------------------


async def test_graphql_over_post_and_get(
    strict_url: str, client: httpx.AsyncClient, keys: Any
) -> None:
    post = await gql(client, strict_url, READ, key=keys["read"])
    assert post.status_code == 200
    assert post.headers["content-type"].startswith("application/json")
    body = post.json()
    assert body["data"] == {
        "bars": [
            {"time": "2023-01-02T05:00:00Z", "close": 100.5},
            {"time": "2023-01-03T05:00:00Z", "close": 100.75},
        ]
    }
    assert body["extensions"]["fetchOnMiss"] == FetchNotice.DISABLED  # no POLYGON_API_KEY: said so
    get = await client.get(
        f"{strict_url}/graphql",
        params={"query": READ, "variables": "{}"},
        headers=auth(keys["read"]),
    )
    assert get.status_code == 200
    assert get.json() == body
    bearer = await client.get(
        f"{strict_url}/graphql",
        params={"query": READ},
        headers={"Authorization": f"Bearer {keys['read']}"},
    )
    assert bearer.json() == body


async def test_mutations_are_refused_over_get(
    strict_url: str, client: httpx.AsyncClient, gw_db: Database, keys: Any
) -> None:
    victim, _ = await make_key(gw_db, "victim")
    response = await client.get(
        f"{strict_url}/graphql",
        params={"query": f"mutation {{ deleteApiKey(id: {victim}) }}"},
        headers=auth(keys["admin"]),
    )
    assert 400 <= response.status_code < 500
    assert (await api_keys.get_key(gw_db.pool, victim)).active


async def test_graphiql_page_for_browsers(strict_url: str, client: httpx.AsyncClient) -> None:
    response = await client.get(f"{strict_url}/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "graphiql" in response.text.lower()


async def test_health_reports_the_database(strict_url: str, client: httpx.AsyncClient) -> None:
    for headers in ({}, {"X-API-Key": "mg_" + "y" * 43}):  # a bad key does not matter here
        response = await client.get(f"{strict_url}/health", headers=headers)
        assert response.status_code == 200
        body = response.json()
        assert (body["status"], body["database"]) == ("healthy", "ok")
        assert body["rollup_backend"] == "portable"


async def test_trace_ids_are_made_or_reused(strict_url: str, client: httpx.AsyncClient) -> None:
    made = await client.get(f"{strict_url}/health")
    again = await client.get(f"{strict_url}/health")
    assert re.fullmatch(r"[0-9a-f]{32}", made.headers["x-trace-id"])
    assert made.headers["x-trace-id"] != again.headers["x-trace-id"]
    mine = await client.post(
        f"{strict_url}/graphql",
        json={"query": "{ __typename }"},
        headers={"X-Trace-Id": "abc-123_XYZ.9"},
    )
    assert mine.headers["x-trace-id"] == "abc-123_XYZ.9"
    w3c = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    parent = await client.get(f"{strict_url}/health", headers={"traceparent": w3c})
    assert parent.headers["x-trace-id"] == "0af7651916cd43dd8448eb211c80319c"
    unsafe = await client.get(f"{strict_url}/health", headers={"X-Trace-Id": "bad id!"})
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe.headers["x-trace-id"])
    refused = await client.get(f"{strict_url}/graphql", headers={"X-API-Key": "mg_" + "z" * 43})
    assert refused.status_code == 401 and "x-trace-id" in refused.headers  # on refusals too


async def test_big_answers_are_gzipped(
    strict_url: str, client: httpx.AsyncClient, keys: Any
) -> None:
    big = await gql(
        client, strict_url, BIG_READ, key=keys["read"], headers={"Accept-Encoding": "gzip"}
    )
    assert big.status_code == 200
    assert big.headers["content-encoding"] == "gzip"
    assert int(big.headers["content-length"]) < len(big.content) / 3  # it compressed well
    assert len(big.json()["data"]["bars"]) == 300
    small = await client.get(f"{strict_url}/health", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in small.headers
    plain = await gql(
        client, strict_url, BIG_READ, key=keys["read"], headers={"Accept-Encoding": "identity"}
    )
    assert "content-encoding" not in plain.headers and plain.json() == big.json()


def body_of_size(size: int) -> bytes:
    head, tail = b'{"query": "{ __typename }', b'"}'
    return head + b" " * (size - len(head) - len(tail)) + tail


async def test_request_body_limit(strict_url: str, client: httpx.AsyncClient) -> None:
    json_type = {"Content-Type": "application/json"}
    at_limit = await client.post(
        f"{strict_url}/graphql", content=body_of_size(BODY_LIMIT), headers=json_type
    )
    assert at_limit.status_code == 200
    assert at_limit.json()["data"] == {"__typename": "Query"}

    over = await client.post(
        f"{strict_url}/graphql", content=body_of_size(BODY_LIMIT + 1), headers=json_type
    )
    assert over.status_code == 413
    assert over.headers["content-type"] == "application/json"
    assert over.json()["code"] == "PAYLOAD_TOO_LARGE"

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: counted as it streams
        body = body_of_size(BODY_LIMIT + 100)
        for i in range(0, len(body), 1000):
            yield body[i : i + 1000]

    streamed = await client.post(f"{strict_url}/graphql", content=chunks(), headers=json_type)
    assert streamed.status_code == 413
    assert streamed.json()["code"] == "PAYLOAD_TOO_LARGE"


async def test_cors_only_for_configured_origins(strict_url: str, client: httpx.AsyncClient) -> None:
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-api-key",
    }
    allowed = await client.options(f"{strict_url}/graphql", headers={"Origin": ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ORIGIN
    assert "x-api-key" in allowed.headers["access-control-allow-headers"].lower()
    assert "POST" in allowed.headers["access-control-allow-methods"]

    other = await client.options(
        f"{strict_url}/graphql", headers={"Origin": "https://evil.example", **preflight}
    )
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers

    simple = await client.post(
        f"{strict_url}/graphql", json={"query": "{ __typename }"}, headers={"Origin": ORIGIN}
    )
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    exposed = simple.headers["access-control-expose-headers"].lower()
    assert {"x-trace-id", "retry-after", "ratelimit", "ratelimit-policy"} <= {
        name.strip() for name in exposed.split(",")
    }
    foreign = await client.post(
        f"{strict_url}/graphql",
        json={"query": "{ __typename }"},
        headers={"Origin": "https://evil.example"},
    )
    assert "access-control-allow-origin" not in foreign.headers
    refused = await client.post(  # a browser can read refusals too
        f"{strict_url}/graphql",
        json={"query": "{ __typename }"},
        headers={"Origin": ORIGIN, "X-API-Key": "mg_" + "q" * 43},
    )
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ORIGIN


# -- who gets in ----------------------------------------------------------------------------


async def test_reads_need_a_valid_key(
    strict_url: str, client: httpx.AsyncClient, keys: Any
) -> None:
    for caller in CALLERS:
        response = await gql(client, strict_url, READ, key=keys[caller])
        if caller in REFUSED_BY_MIDDLEWARE:
            assert_refused_by_middleware(response)
        elif caller == "none":
            assert response.status_code == 200
            assert codes(response) == ["UNAUTHENTICATED"], caller
            assert response.json()["data"] in (None, {"bars": None})
        else:  # every scope includes read
            assert response.status_code == 200
            assert "errors" not in response.json(), (caller, response.json())
            assert len(response.json()["data"]["bars"]) == 2, caller


def stock_days(fake: FakePolygon, ticker: str, first: date, last: date) -> list[dict[str, Any]]:
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    days = [d for d in days if d.weekday() < 5]
    raw = make_bars(datetime(2024, 1, 1, tzinfo=UTC), len(days), seed=len(days))
    for bar, day in zip(raw, days, strict=True):
        bar["t"] = int(datetime(day.year, day.month, day.day, tzinfo=NY).timestamp() * 1000)
    fake.add_bars(ticker, raw, 1, "day")
    return raw


FETCH = """
query($ticker: String!) {
  bars(ticker: $ticker, timeframe: D1, from: "2024-01-02T00:00:00Z", to: "2024-01-13T00:00:00Z") {
    time close
  }
}
"""


async def test_fetch_on_miss_needs_the_fetch_scope(
    fetching_url: str, client: httpx.AsyncClient, keys: Any, fake_polygon: FakePolygon
) -> None:
    upstream = {
        ticker: stock_days(fake_polygon, ticker, date(2024, 1, 2), date(2024, 1, 12))
        for ticker in ("MSFT", "NVDA", "AMZN")
    }
    fetch_by = {"fetch": "MSFT", "admin": "NVDA"}  # a ticker each, so each must fetch
    for caller in CALLERS:
        ticker = fetch_by.get(caller, "AMZN")
        before = fake_polygon.count("/v2/aggs")
        response = await gql(client, fetching_url, FETCH, {"ticker": ticker}, key=keys[caller])
        if caller in REFUSED_BY_MIDDLEWARE:
            assert_refused_by_middleware(response)
        elif caller == "none":
            assert codes(response) == ["UNAUTHENTICATED"]
        elif caller == "read":  # reads what is stored (nothing), and says why it did not fetch
            body = response.json()
            assert "errors" not in body, body
            assert body["data"] == {"bars": []}
            assert body["extensions"]["fetchOnMiss"] == FetchNotice.NOT_PERMITTED
        else:
            body = response.json()
            assert "errors" not in body, body
            expected = [
                {
                    "time": datetime.fromtimestamp(b["t"] / 1000, UTC)
                    .isoformat()
                    .replace("+00:00", "Z"),
                    "close": b["c"],
                }
                for b in upstream[ticker]
            ]
            assert body["data"]["bars"] == expected, caller
            assert "fetchOnMiss" not in body.get("extensions", {})
            assert fake_polygon.count("/v2/aggs") > before, caller
            continue
        assert fake_polygon.count("/v2/aggs") == before, caller  # upstream never asked


ADMIN_OPERATIONS = {
    "apiKeys": "{ apiKeys { id name } }",
    "createApiKey": 'mutation { createApiKey(name: "made", scopes: [READ]) { apiKey key { id } } }',
    "revokeApiKey": "mutation($id: Int!) { revokeApiKey(id: $id) { id active } }",
    "restoreApiKey": "mutation($id: Int!) { restoreApiKey(id: $id) { id active } }",
    "deleteApiKey": "mutation($id: Int!) { deleteApiKey(id: $id) }",
}


async def test_administration_needs_the_admin_scope(
    strict_url: str, client: httpx.AsyncClient, keys: Any, gw_db: Database
) -> None:
    victim, _ = await make_key(gw_db, "victim")
    keys_before = await api_keys.list_keys(gw_db.pool)
    for caller in CALLERS:
        if caller == "admin":
            continue
        for name, query in ADMIN_OPERATIONS.items():
            response = await gql(client, strict_url, query, {"id": victim}, key=keys[caller])
            if caller in REFUSED_BY_MIDDLEWARE:
                assert_refused_by_middleware(response)
                continue
            expected = "UNAUTHENTICATED" if caller == "none" else "FORBIDDEN"
            assert response.status_code == 200
            assert codes(response) == [expected], (caller, name, response.json())
            assert response.json()["data"] is None, (caller, name)
    assert await api_keys.list_keys(gw_db.pool) == keys_before  # nothing was changed

    admin = keys["admin"]
    listed = await gql(client, strict_url, ADMIN_OPERATIONS["apiKeys"], key=admin)
    assert {"id": victim, "name": "victim"} in listed.json()["data"]["apiKeys"]
    created = await gql(client, strict_url, ADMIN_OPERATIONS["createApiKey"], key=admin)
    made = created.json()["data"]["createApiKey"]
    new_id, new_key = made["key"]["id"], made["apiKey"]
    assert (await gql(client, strict_url, READ, key=new_key)).status_code == 200  # it works
    for name, active in (("revokeApiKey", False), ("restoreApiKey", True)):
        changed = await gql(client, strict_url, ADMIN_OPERATIONS[name], {"id": new_id}, key=admin)
        assert changed.json()["data"][name] == {"id": new_id, "active": active}
        assert (await api_keys.get_key(gw_db.pool, new_id)).active is active
    deleted = await gql(
        client, strict_url, ADMIN_OPERATIONS["deleteApiKey"], {"id": new_id}, key=admin
    )
    assert deleted.json()["data"] == {"deleteApiKey": new_id}
    assert_refused_by_middleware(await gql(client, strict_url, READ, key=new_key))
    missing = await gql(
        client, strict_url, ADMIN_OPERATIONS["deleteApiKey"], {"id": new_id}, key=admin
    )
    assert codes(missing) == ["NOT_FOUND"]


async def test_me_shows_the_callers_key_but_never_the_key(
    strict_url: str, client: httpx.AsyncClient, gw_db: Database
) -> None:
    until = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    key_id, raw = await make_key(
        gw_db, "dashboard", Scope.FETCH, expires_at=until, rate_limit_per_minute=120
    )
    response = await gql(client, strict_url, ME, key=raw)
    assert response.json()["data"]["me"] == {
        "id": key_id,
        "name": "dashboard",
        "keyPreview": api_keys.preview(raw),
        "scopes": ["FETCH"],
        "active": True,
        "expiresAt": until.isoformat().replace("+00:00", "Z"),
        "rateLimitPerMinute": 120.0,
    }
    assert raw not in response.text and raw[3:] not in response.text
    assert codes(await gql(client, strict_url, ME)) == ["UNAUTHENTICATED"]


async def test_anonymous_reads_open_reads_only(
    open_url: str, client: httpx.AsyncClient, keys: Any
) -> None:
    read = await gql(client, open_url, READ)
    assert "errors" not in read.json() and len(read.json()["data"]["bars"]) == 2
    for name, query in ADMIN_OPERATIONS.items():
        refused = await gql(client, open_url, query, {"id": 1})
        assert codes(refused) == ["UNAUTHENTICATED"], name
    assert codes(await gql(client, open_url, ME)) == ["UNAUTHENTICATED"]
    # a key that is sent must still be a valid one
    assert_refused_by_middleware(await gql(client, open_url, READ, key=keys["wrong"]))
    assert_refused_by_middleware(await gql(client, open_url, READ, key=keys["revoked"]))


async def test_revoking_a_key_refuses_it_at_once_in_this_process(
    strict_url: str, client: httpx.AsyncClient, keys: Any, gw_db: Database
) -> None:
    victim_id, victim = await make_key(gw_db, "soon revoked")
    bystander_id, bystander = await make_key(gw_db, "revoked behind the cache's back")
    for key in (victim, bystander):  # both verified, so both now cached by the server
        assert (await gql(client, strict_url, READ, key=key)).status_code == 200
    # revoked in the database directly, a key works until the cache entry expires...
    await api_keys.set_active(gw_db.pool, bystander_id, False)
    assert (await gql(client, strict_url, READ, key=bystander)).status_code == 200
    # ...while revokeApiKey makes this server forget it at once
    revoke = ADMIN_OPERATIONS["revokeApiKey"]
    revoked = await gql(client, strict_url, revoke, {"id": victim_id}, key=keys["admin"])
    assert revoked.json()["data"]["revokeApiKey"]["active"] is False
    assert_refused_by_middleware(await gql(client, strict_url, READ, key=victim))


async def test_restoring_a_key_accepts_it_at_once(
    strict_url: str, client: httpx.AsyncClient, keys: Any, gw_db: Database
) -> None:
    key_id, raw = await make_key(gw_db, "revoked then restored")
    admin = keys["admin"]
    await gql(client, strict_url, ADMIN_OPERATIONS["revokeApiKey"], {"id": key_id}, key=admin)
    assert_refused_by_middleware(await gql(client, strict_url, READ, key=raw))
    await gql(client, strict_url, ADMIN_OPERATIONS["restoreApiKey"], {"id": key_id}, key=admin)
    assert (await gql(client, strict_url, READ, key=raw)).status_code == 200


async def test_per_key_rate_limit(
    strict_url: str, client: httpx.AsyncClient, keys: Any, gw_db: Database
) -> None:
    _, limited = await make_key(gw_db, "three a minute", rate_limit_per_minute=3)
    for _ in range(3):
        assert (await gql(client, strict_url, READ, key=limited)).status_code == 200
    refused = await gql(client, strict_url, READ, key=limited)
    assert refused.status_code == 429
    assert refused.json()["code"] == "RATE_LIMITED"
    assert 1 <= int(refused.headers["retry-after"]) <= 20  # one token per 20 s
    other = await gql(client, strict_url, READ, key=keys["read"])
    assert other.status_code == 200  # other keys are unaffected


async def test_logs_never_contain_a_raw_key(
    strict_url: str,
    client: httpx.AsyncClient,
    keys: Any,
    gw_db: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    _, limited = await make_key(gw_db, "limited", rate_limit_per_minute=1)
    created = await gql(client, strict_url, ADMIN_OPERATIONS["createApiKey"], key=keys["admin"])
    secrets = [k for k in keys.values() if k] + [
        limited,
        created.json()["data"]["createApiKey"]["apiKey"],
    ]
    for key in secrets:
        await gql(client, strict_url, READ, key=key)
        await client.get(f"{strict_url}/graphql", params={"query": ME, "apiKey": key})
        await client.post(
            f"{strict_url}/graphql",
            json={"query": ME},
            headers={"Authorization": f"Bearer {key}"},
        )
    await gql(client, strict_url, READ, key=limited)  # refused: rate limited
    # the server's records (this test's own HTTP client logs the URLs it calls)
    server_records = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert any(r.name == "marketgraph.access" for r in server_records)  # the logs were seen
    for record in server_records:
        text = " ".join(
            [
                record.getMessage(),
                json.dumps(record.__dict__, default=str),
                logging.Formatter().formatException(record.exc_info) if record.exc_info else "",
            ]
        )
        for key in secrets:
            assert key not in text and key[3:] not in text, record


async def test_malformed_requests_get_json_errors(
    strict_url: str, client: httpx.AsyncClient
) -> None:
    bad: list[dict[str, Any]] = [
        {"content": b"{not json", "headers": {"Content-Type": "application/json"}},
        {"json": {"query": "{ __typename }", "variables": [1]}},
        {"json": {}},
        {"json": {"query": "{ __typename }", "operationName": "Nope"}},
    ]
    for request in bad:
        response = await client.post(f"{strict_url}/graphql", **request)
        assert response.status_code == 400, request
        assert response.headers["content-type"].startswith("application/json"), request
        assert response.json()["code"] == "BAD_USER_INPUT", request


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
async def test_a_body_that_is_not_json_by_its_content_type_is_415(
    strict_url: str, client: httpx.AsyncClient, content_type: str | None
) -> None:
    body = json.dumps({"query": "{ __typename }"}).encode()
    headers = {"Content-Type": content_type} if content_type else {}
    refused = await client.post(f"{strict_url}/graphql", content=body, headers=headers)
    assert refused.status_code == 415, refused.text
    assert refused.json() == {
        "detail": "a request body must be Content-Type: application/json",
        "code": "UNSUPPORTED_MEDIA_TYPE",
    }
    for accepted in ("application/json", "Application/JSON; charset=utf-8"):
        answer = await client.post(
            f"{strict_url}/graphql", content=body, headers={"Content-Type": accepted}
        )
        assert answer.json()["data"] == {"__typename": "Query"}, accepted


@pytest.mark.parametrize("body", ['"query"', "5", "null", "true"])
async def test_a_body_that_is_not_a_json_object_is_a_client_error(
    strict_url: str, client: httpx.AsyncClient, body: str
) -> None:
    response = await client.post(
        f"{strict_url}/graphql", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400


async def test_the_audit_trail_names_the_graphql_operation_and_admins_can_read_it(
    gw_db: Database, client: httpx.AsyncClient
) -> None:
    reader_id, reader = await make_key(gw_db, "audited reader", Scope.READ)
    _, admin = await make_key(gw_db, "auditor", Scope.ADMIN)
    named = 'query WatchlistCloses { bars(ticker: "AAPL", limit: 1) { close } }'
    audit = """query ($id: Int!) {
      apiKeyAudit(id: $id) { total entries { endpoint method statusCode } }
    }"""
    with live(settings(gw_db, usage_flush_seconds=0.05)) as url:
        assert (await gql(client, url, named, key=reader)).status_code == 200
        assert (await gql(client, url, "{ bars(ticker: \"AAPL\", limit: 1) { close } }",
                          key=reader)).status_code == 200  # fmt: skip
        refused = await gql(client, url, audit, {"id": reader_id}, key=reader)
        assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["FORBIDDEN"]
        for _ in range(600):  # the flush runs every 50 ms; give it up to 30 s on a busy machine
            page = (await gql(client, url, audit, {"id": reader_id}, key=admin)).json()
            if page["data"]["apiKeyAudit"]["total"] == 3:
                break
            await asyncio.sleep(0.05)
    entries = page["data"]["apiKeyAudit"]["entries"]
    assert [(e["endpoint"], e["method"], e["statusCode"]) for e in reversed(entries)] == [
        ("graphql:WatchlistCloses", "POST", 200),
        ("graphql:anonymous", "POST", 200),
        ("graphql:anonymous", "POST", 200),  # the refused audit query: errors, not a 4xx
    ]


@pytest.mark.parametrize("path", HEAD_AS_GET)
async def test_head_answers_as_get_without_the_body(
    client: httpx.AsyncClient, strict_url: str, keys: dict[str, str | None], path: str
) -> None:
    """Uptime monitors probe with HEAD: the REST routes and /graphql answered it 405."""
    key = auth(keys["read"])
    got = await client.get(strict_url + path, headers=key)
    head = await client.head(strict_url + path, headers=key)
    assert got.status_code == head.status_code == 200, path
    assert got.content and head.content == b""
    assert head.headers["content-type"] == got.headers["content-type"]


async def test_head_needs_a_key_where_get_does(client: httpx.AsyncClient, strict_url: str) -> None:
    answer = await client.head(strict_url + "/api/v1/status")
    assert answer.status_code == 401 and answer.content == b""


@pytest.mark.parametrize(("method", "path", "allowed"), WRONG_METHODS)
async def test_a_wrong_method_is_a_json_405_naming_every_method_of_the_path(
    client: httpx.AsyncClient,
    strict_url: str,
    keys: dict[str, str | None],
    method: str,
    path: str,
    allowed: set[str],
) -> None:
    """`Allow` is required by RFC 9110; /graphql and /dashboard answered plain text, and a
    path of two routes (GET and POST /api/v1/admin/symbols) named only one's methods."""
    answer = await client.request(method, strict_url + path, headers=auth(keys["admin"]))
    assert answer.status_code == 405
    assert answer.json() == {"detail": "Method Not Allowed", "code": "BAD_USER_INPUT"}
    assert set(answer.headers["allow"].split(", ")) == allowed


@pytest.mark.parametrize("path", MISSING_FILES)
async def test_a_missing_file_is_a_json_404(
    client: httpx.AsyncClient, strict_url: str, path: str
) -> None:
    answer = await client.get(strict_url + path)
    assert answer.status_code == 404
    assert answer.json() == {"detail": "Not Found", "code": "NOT_FOUND"}
