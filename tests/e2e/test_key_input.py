"""Creating keys with hostile input, over a real server and the real command line.

A NUL in a name was INTERNAL, `rateLimitPerMinute: 1e-320` made a key whose every request
ended in a plain-text 500, and `scopes: []` looked like it might grant something.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
import pytest_asyncio

from domain.access import Scope
from storage import api_keys
from tests.support.databases import Database
from tests.support.live_server import gateway_settings, live_gateway

CREATE = """
mutation ($name: String!, $scopes: [Scope!], $rate: Float) {
  createApiKey(name: $name, scopes: $scopes, rateLimitPerMinute: $rate) {
    apiKey key { name scopes rateLimitPerMinute }
  }
}
"""


@pytest.fixture
def url(portable_db: Database) -> Iterator[str]:
    with live_gateway(gateway_settings(portable_db.url)) as served:
        yield served


@pytest_asyncio.fixture(loop_scope="session")
async def admin(portable_db: Database) -> str:
    _, raw = await api_keys.create_key(portable_db.pool, "ops", [Scope.ADMIN])
    return raw


@pytest_asyncio.fixture(loop_scope="session")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


async def create(
    client: httpx.AsyncClient, url: str, admin: str, **variables: Any
) -> httpx.Response:
    variables.setdefault("name", "made")
    return await client.post(
        f"{url}/graphql",
        json={"query": CREATE, "variables": variables},
        headers={"X-API-Key": admin},
    )


def code(response: httpx.Response) -> str | None:
    assert response.headers["content-type"].startswith("application/json"), response.text
    errors = response.json().get("errors") or [{}]
    return str(errors[0].get("extensions", {}).get("code")) if errors[0] else None


async def test_hostile_key_input_is_bad_user_input_and_stores_nothing(
    url: str, admin: str, client: httpx.AsyncClient, portable_db: Database
) -> None:
    hostile: list[dict[str, Any]] = [
        {"name": "a\x00b"},
        {"name": "two\nlines"},
        {"scopes": []},
        {"rate": 1e-320},
        {"rate": 0.0099},
        {"rate": 1_000_000.5},
    ]
    for variables in hostile:
        response = await create(client, url, admin, **variables)
        assert response.status_code == 200, (variables, response.text)
        assert code(response) == "BAD_USER_INPUT", (variables, response.json())
        assert response.json()["data"] is None
    assert [k.name for k in await api_keys.list_keys(portable_db.pool)] == ["ops"]


async def test_key_rates_at_both_bounds_are_kept_and_enforced(
    url: str, admin: str, client: httpx.AsyncClient
) -> None:
    made = {}
    for rate in (0.01, 1_000_000.0):
        response = await create(client, url, admin, name=f"rate {rate}", rate=rate)
        assert code(response) is None, response.json()
        made[rate] = response.json()["data"]["createApiKey"]
        assert made[rate]["key"]["rateLimitPerMinute"] == rate
    slow = {"X-API-Key": made[0.01]["apiKey"]}
    me = {"query": "{ me { name } }"}
    first = await client.post(f"{url}/graphql", json=me, headers=slow)
    second = await client.post(f"{url}/graphql", json=me, headers=slow)
    assert first.status_code == 200 and first.json()["data"] == {"me": {"name": "rate 0.01"}}
    assert second.status_code == 429 and second.json()["code"] == "RATE_LIMITED"
    assert 1 <= int(second.headers["Retry-After"]) <= 6000  # one request per 100 minutes


async def test_scopes_left_out_mean_read(url: str, admin: str, client: httpx.AsyncClient) -> None:
    response = await create(client, url, admin)
    assert response.json()["data"]["createApiKey"]["key"]["scopes"] == ["READ"]


def _cli(database: Database, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database.url, "TIMESCALEDB": "off"}
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", "keys", "create", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_the_cli_refuses_the_same_input(portable_db: Database) -> None:
    for args in (("tiny", "--rate-limit", "1e-320"), ("huge", "--rate-limit", "2e6"), ("a\nb",)):
        refused = _cli(portable_db, *args)
        assert refused.returncode == 1, (args, refused.stdout, refused.stderr)
        assert refused.stderr.startswith("error: "), refused.stderr
        assert "Traceback" not in refused.stderr
    made = _cli(portable_db, "slow", "--rate-limit", "0.01")
    assert made.returncode == 0, made.stderr
    assert [
        (k.name, k.rate_limit_per_minute) for k in await api_keys.list_keys(portable_db.pool)
    ] == [("slow", 0.01)]


async def test_a_nul_in_search_is_bad_user_input(
    url: str, admin: str, client: httpx.AsyncClient
) -> None:
    response = await client.post(
        f"{url}/graphql",
        json={
            "query": "query ($s: String) { symbols(search: $s) { ticker } }",
            "variables": {"s": "a\x00b"},
        },
        headers={"X-API-Key": admin},
    )
    assert code(response) == "BAD_USER_INPUT", response.json()
