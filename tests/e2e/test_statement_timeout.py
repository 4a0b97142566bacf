"""STATEMENT_TIMEOUT_SECONDS over a real server: a statement PostgreSQL cancels at the limit is
the client's BAD_USER_INPUT (GraphQL) or 400 (REST), never INTERNAL or UNAVAILABLE; with the
limit off, or at its default, the same requests are answered.

The slow statements are real ones: a summary over 200,000 minute bars from a minute no rollup
bucket starts at (so the minute bars themselves are read), and the store figures that count
every bar. Each takes tens of milliseconds at least; the short limit is one millisecond.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import pytest_asyncio

from tests.support.databases import Database
from tests.support.live_server import gateway_settings, live_gateway

T0 = datetime(2024, 1, 1, tzinfo=UTC)
MINUTES = 200_000
WINDOW = f'from: "{T0 + timedelta(minutes=1)}", to: "{T0 + timedelta(minutes=MINUTES)}"'
SUMMARY = {"query": f'{{ aggregates(tickers: ["X:BTCUSD"], {WINDOW}) {{ barCount }} }}'}
SHORT = 0.001


@pytest_asyncio.fixture(loop_scope="session")
async def many_bars(portable_db: Database) -> AsyncIterator[Database]:
    await portable_db.pool.execute(
        "INSERT INTO bars (symbol, timeframe, time, open, high, low, close, volume)"
        " SELECT 'X:BTCUSD', '1m', $1::timestamptz + n * interval '1 minute', 1, 2, 0.5, 1.5, 10"
        " FROM generate_series(0, $2 - 1) AS n",
        T0,
        MINUTES,
    )
    await portable_db.pool.execute("ANALYZE bars")
    yield portable_db


@pytest.mark.parametrize("seconds", [0, 10])
async def test_without_a_short_limit_the_slow_summary_is_answered(
    many_bars: Database, seconds: float
) -> None:
    settings = gateway_settings(
        many_bars.url, anonymous_reads=True, statement_timeout_seconds=seconds
    )
    with live_gateway(settings) as url:
        async with httpx.AsyncClient(timeout=60) as client:
            graphql = await client.post(f"{url}/graphql", json=SUMMARY)
            rest = await client.get(f"{url}/api/v1/status")
    assert graphql.status_code == 200
    assert "errors" not in graphql.json(), graphql.text
    assert graphql.json()["data"] == {"aggregates": [{"barCount": MINUTES - 1}]}
    assert rest.status_code == 200, rest.text
    assert rest.json()["database"]["total_records"] == MINUTES


async def test_a_statement_cancelled_at_the_limit_is_the_clients_to_narrow(
    many_bars: Database,
) -> None:
    settings = gateway_settings(
        many_bars.url, anonymous_reads=True, statement_timeout_seconds=SHORT
    )
    with live_gateway(settings) as url:
        async with httpx.AsyncClient(timeout=60) as client:
            graphql = await client.post(f"{url}/graphql", json=SUMMARY)
            rest = await client.get(f"{url}/api/v1/status")
    assert graphql.status_code == 200
    body = graphql.json()
    assert body["data"] == {"aggregates": None}
    assert [e["extensions"]["code"] for e in body["errors"]] == ["BAD_USER_INPUT"]
    assert "statement time limit" in body["errors"][0]["message"]
    assert rest.status_code == 400, rest.text
    assert rest.json()["code"] == "BAD_USER_INPUT"
    assert "statement time limit" in rest.json()["detail"]
