"""What one client address can do to others, over a real server on 127.0.0.1."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from domain.access import Scope
from gateway.dashboard import DEFAULT_DASHBOARD_DIR
from storage import api_keys
from tests.support.databases import Database
from tests.support.live_server import gateway_settings, live_gateway

ME = {"query": "{ me { name } }"}


@pytest_asyncio.fixture(loop_scope="session")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


async def test_bad_keys_never_lock_out_a_valid_key_from_the_same_address(
    portable_db: Database, client: httpx.AsyncClient
) -> None:
    _, valid = await api_keys.create_key(portable_db.pool, "colleague", [Scope.READ])
    with live_gateway(gateway_settings(portable_db.url, failed_auth_per_minute=3)) as url:
        guesses = [
            await client.post(
                f"{url}/graphql", json=ME, headers={"X-API-Key": api_keys.generate_key()}
            )
            for _ in range(5)
        ]
        assert [r.status_code for r in guesses] == [401, 401, 401, 429, 429]
        assert guesses[-1].json()["code"] == "RATE_LIMITED" and guesses[-1].headers["Retry-After"]

        mine = await client.post(f"{url}/graphql", json=ME, headers={"X-API-Key": valid})
        assert mine.status_code == 200, mine.text
        assert mine.json()["data"] == {"me": {"name": "colleague"}}


async def test_requests_without_a_key_are_limited_per_address(
    portable_db: Database, client: httpx.AsyncClient
) -> None:
    _, key = await api_keys.create_key(portable_db.pool, "keyed", [Scope.READ])
    settings = gateway_settings(
        portable_db.url, anonymous_reads=True, anonymous_rate_limit_per_minute=3
    )
    schema = {"query": "{ __schema { queryType { name } } }"}
    read = {"query": '{ symbols(tickers: ["AAPL"]) { ticker } }'}
    with live_gateway(settings) as url:
        keyless = [
            await client.post(f"{url}/graphql", json=body) for body in (schema, read, read, schema)
        ]
        assert [r.status_code for r in keyless] == [200, 200, 200, 429]
        assert {r.headers["RateLimit-Policy"] for r in keyless} == {'"address";q=3;w=60'}
        left = [r.headers["RateLimit"].split(";")[1] for r in keyless]
        assert left == ["r=2", "r=1", "r=0", "r=0"]
        refused = keyless[-1]
        assert refused.json()["code"] == "RATE_LIMITED" and int(refused.headers["Retry-After"]) >= 1
        assert "without an API key" in refused.json()["detail"]

        keyed = await client.post(f"{url}/graphql", json=read, headers={"X-API-Key": key})
        assert keyed.status_code == 200  # a key has its own limit
        assert keyed.headers["RateLimit-Policy"] == '"key";q=600;w=60'
        assert keyed.headers["RateLimit"].startswith('"key";r=599;t=')
        assert (await client.get(f"{url}/health")).status_code == 200  # never limited


async def test_page_loads_fetch_their_files_without_spending_the_addresses_rate(
    portable_db: Database, client: httpx.AsyncClient
) -> None:
    """The dashboard's page, scripts, styles and chart library, and GraphiQL's files, are not
    counted: only the GraphiQL page (it is `/graphql`), the queries and a 404 are."""
    settings = gateway_settings(
        portable_db.url, anonymous_reads=True, anonymous_rate_limit_per_minute=3
    )
    with live_gateway(settings) as url:
        dashboard = await client.get(f"{url}/dashboard")
        graphiql = await client.get(f"{url}/graphql", headers={"Accept": "text/html"})
        modules = {f"/dashboard/js/{m.name}" for m in (DEFAULT_DASHBOARD_DIR / "js").glob("*.js")}
        linked = re.findall(r'(?:src|href)="(/(?:dashboard|static)/[^"]+)"', dashboard.text)
        linked += re.findall(r'(?:src|href)="(/static/[^"]+)"', graphiql.text)
        files = sorted(modules | set(linked))
        loaded = {path: await client.get(url + path) for path in files}
        query = await client.post(f"{url}/graphql", json={"query": "{ __typename }"})
        missing = await client.get(f"{url}/dashboard/nothing.js")
        refused = await client.post(f"{url}/graphql", json={"query": "{ __typename }"})

    assert len(files) > 3  # more than the rate allows
    assert any("lightweight-charts" in path for path in files)
    assert any("graphiql" in path for path in files)
    assert {path: r.status_code for path, r in loaded.items()} == dict.fromkeys(files, 200)
    assert dashboard.status_code == 200 and "RateLimit" not in dashboard.headers
    assert not [path for path, r in loaded.items() if "RateLimit" in r.headers]
    left = [r.headers["RateLimit"].split(";")[1] for r in (graphiql, query, missing, refused)]
    assert left == ["r=2", "r=1", "r=0", "r=0"]
    assert missing.status_code == 404 and refused.status_code == 429
