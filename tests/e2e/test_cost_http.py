"""The cap on work per response over a real server: float variables are costed at the values
execution uses (no bypass), values execution refuses are refused, and summaries count."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio

from storage.bars_write import upsert_bars
from storage.features import RollupBackend
from tests.support.bars import minute_bars
from tests.support.databases import Database
from tests.support.live_server import gateway_settings, live_gateway

CAP = 50
T0 = datetime(2024, 5, 6, tzinfo=UTC)
BARS = 'query($l: Int!) { bars(ticker: "X:BTCUSD", timeframe: M1, limit: $l) { time } }'
SYMBOLS = "query($f: Int!) { symbols(first: $f) { bars(timeframe: M1) { time } } }"


@pytest.fixture
def gateway(portable_db: Database) -> Iterator[str]:
    settings = gateway_settings(portable_db.url, anonymous_reads=True, max_bars_per_response=CAP)
    with live_gateway(settings) as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def client(portable_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    bars = minute_bars(random.Random(5), "X:BTCUSD", T0, T0 + timedelta(hours=3))
    await upsert_bars(portable_db.pool, "1m", bars, RollupBackend.PORTABLE)
    async with httpx.AsyncClient(timeout=60) as http:
        yield http


async def ask(client: httpx.AsyncClient, url: str, query: str, **variables: Any) -> Any:
    response = await client.post(f"{url}/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(("query", "variables", "cost"), [
    (BARS, {"l": 100000.0}, 100000),
    (BARS, {"l": CAP + 1.0}, CAP + 1),
    (SYMBOLS, {"f": 500.0}, 500 * 1000),
])  # fmt: skip
async def test_integral_floats_are_costed_as_the_ints_execution_uses(
    gateway: str, client: httpx.AsyncClient, query: str, variables: dict[str, Any], cost: int
) -> None:
    body = await ask(client, gateway, query, **variables)
    assert body["data"] is None
    assert body["errors"][0]["extensions"] == {"code": "BAD_USER_INPUT", "cost": cost, "limit": CAP}


@pytest.mark.parametrize("value", [2.5, 1e300, "50"])
async def test_values_an_int_cannot_take_are_refused(
    gateway: str, client: httpx.AsyncClient, value: Any
) -> None:
    body = await ask(client, gateway, BARS, l=value)
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert "Int cannot represent" in body["errors"][0]["message"]


async def test_a_float_at_the_cap_is_answered(gateway: str, client: httpx.AsyncClient) -> None:
    body = await ask(client, gateway, BARS, l=float(CAP))
    assert "errors" not in body, body
    assert len(body["data"]["bars"]) == CAP


async def test_many_aliased_summaries_over_a_long_window_are_refused(
    gateway: str, client: httpx.AsyncClient
) -> None:
    """Issue 15's flood: aliases x tickers x a long window of minutes, refused before SQL."""
    tickers = [f"T{i}" for i in range(500)]
    window = 'from: "2023-01-01T00:01:00Z", to: "2024-01-01T00:00:00Z"'
    fields = " ".join(f"a{i}: aggregates(tickers: $t, {window}) {{ close }}" for i in range(30))
    query = "query($t: [String!]!) { " + fields + " }"
    body = await ask(client, gateway, query, t=tickers)
    assert body["data"] is None
    extensions = body["errors"][0]["extensions"]
    assert extensions["code"] == "BAD_USER_INPUT" and extensions["cost"] > 10**8
