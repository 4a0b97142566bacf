"""INTROSPECTION over a real server: public, for keyed callers only, or off — suggestions too."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio

from domain.access import Scope
from domain.introspection import Introspection
from gateway.settings import Settings
from storage import api_keys
from tests.support.databases import Database
from tests.support.live_server import gateway_settings, live_gateway

SCHEMA = "{ __schema { queryType { name } } }"
TYPE = '{ __type(name: "Mutation") { fields { name } } }'
TYPENAME = "{ __typename }"
# near misses: graphql-core would answer "Did you mean 'createApiKey'?" and the like
NEAR_MISSES = (
    'mutation { createApiKy(name: "x") { apiKey } }',
    '{ bars(ticker: "AAPL", timeframe: D2) { time } }',
    '{ bars(ticker: "AAPL", timeframe: D1, limt: 2) { time } }',
)


@pytest.fixture
def urls(portable_db: Database) -> Iterator[dict[str, str]]:
    with (
        live_gateway(gateway_settings(portable_db.url, introspection="public")) as public,
        live_gateway(gateway_settings(portable_db.url)) as default,
        live_gateway(gateway_settings(portable_db.url, introspection="off")) as off,
    ):
        yield {"public": public, "authenticated": default, "off": off}


@pytest_asyncio.fixture(loop_scope="session")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as http:
        yield http


@pytest_asyncio.fixture(loop_scope="session")
async def key(portable_db: Database) -> str:
    _, raw = await api_keys.create_key(portable_db.pool, "explorer", [Scope.READ])
    return raw


async def ask(
    client: httpx.AsyncClient, url: str, query: str, key: str | None = None
) -> dict[str, object]:
    headers = {"X-API-Key": key} if key else {}
    response = await client.post(f"{url}/graphql", json={"query": query}, headers=headers)
    assert response.status_code in (200, 400), response.text
    body: dict[str, object] = response.json()
    return body


def codes(body: dict[str, object]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]  # type: ignore[attr-defined]


async def test_by_default_introspection_needs_a_key(
    urls: dict[str, str], client: httpx.AsyncClient, key: str
) -> None:
    assert Settings(_env_file=None).introspection is Introspection.AUTHENTICATED  # type: ignore[call-arg]
    url = urls["authenticated"]
    for query in (SCHEMA, TYPE):
        refused = await ask(client, url, query)
        assert codes(refused) == ["UNAUTHENTICATED"], refused
        assert refused.get("data") is None and "Mutation" not in str(refused)
        assert codes(await ask(client, url, query, key)) == []
    answered = await ask(client, url, SCHEMA, key)
    assert answered["data"] == {"__schema": {"queryType": {"name": "Query"}}}
    assert (await ask(client, url, TYPENAME))["data"] == {"__typename": "Query"}


async def test_public_and_off_are_what_they_say(
    urls: dict[str, str], client: httpx.AsyncClient, key: str
) -> None:
    assert codes(await ask(client, urls["public"], SCHEMA)) == []
    off = urls["off"]
    assert set(codes(await ask(client, off, SCHEMA, key))) == {"BAD_USER_INPUT"}
    assert codes(await ask(client, off, TYPENAME)) == []


async def test_suggestions_are_given_only_where_introspection_is_public(
    urls: dict[str, str], client: httpx.AsyncClient, key: str
) -> None:
    for query in NEAR_MISSES:
        public = await ask(client, urls["public"], query, key)
        assert "Did you mean" in str(public), public
        for mode in ("authenticated", "off"):
            hidden = await ask(client, urls[mode], query, key)
            assert set(codes(hidden)) == {"BAD_USER_INPUT"}, hidden
            assert "Did you mean" not in str(hidden), (mode, hidden)
            assert "createApiKey" not in str(hidden) and "'D1'" not in str(hidden)
