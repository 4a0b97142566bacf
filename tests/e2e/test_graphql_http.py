"""`/graphql` over real HTTP (uvicorn on 127.0.0.1, port 0): bulk bars, GET and POST, errors.

The app is `create_app` with its lifespan, so the fast path, the orjson view, the middleware
and the database are the ones that serve production traffic.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import strawberry

from gateway.app import create_app
from gateway.settings import Settings
from resolvers.context import Services
from schema import build_schema
from storage.bars_write import upsert_bars
from tests.support.bars import minute_bars
from tests.support.databases import Database
from tests.support.graphql import execute
from tests.support.live_server import serve_in_thread

T0 = datetime(2024, 5, 6, tzinfo=UTC)
BULK = """
query Bulk($ticker: String!, $limit: Int!) {
  bars(ticker: $ticker, timeframe: M1, limit: $limit) {
    time open high low close volume vwap trades barCount
    ... on Bar { qualityScore gapDetected volumeAnomaly validationNotes __typename }
  }
}
"""


@pytest.fixture
def origin(portable_db: Database) -> Iterator[str]:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None,
        database_url=portable_db.url,
        timescaledb="off",
        db_pool_min_size=1,
        db_pool_max_size=4,
        polygon_api_key=None,
        anonymous_reads=True,
        max_bars_per_response=100_000,
    )
    with serve_in_thread(create_app(settings), lifespan="on") as url:
        yield url


async def stock_answer(database: Database, query: str, variables: dict[str, Any]) -> Any:
    """What stock Strawberry execution answers, as a client decodes it."""
    schema: strawberry.Schema = build_schema(fast_path=False)
    services = Services(database.pool, database.backend, None, 100_000, True)
    result = await execute(schema, query, services, variables)
    assert not result.errors, result.errors
    return {"data": result.data, "extensions": result.extensions}


async def test_bulk_bars_over_post_and_get_match_stock_execution(
    portable_db: Database, origin: str
) -> None:
    bars = minute_bars(random.Random(3), "X:BTCUSD", T0, T0 + timedelta(days=3), gap_chance=0.1)
    await upsert_bars(portable_db.pool, "1m", bars, portable_db.backend)
    variables = {"ticker": "X:BTCUSD", "limit": 3000}
    expected = await stock_answer(portable_db, BULK, variables)
    async with httpx.AsyncClient(base_url=origin, timeout=60) as client:
        posted = await client.post("/graphql", json={"query": BULK, "variables": variables})
        got = await client.get(
            "/graphql", params={"query": BULK, "variables": json.dumps(variables)}
        )
    for response in (posted, got):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == expected
    rows = posted.json()["data"]["bars"]
    assert len(rows) == 3000 and rows[0]["time"] == "2024-05-06T00:00:00Z"
    assert posted.json()["extensions"] == {"fetchOnMiss": "disabled"}


async def test_internal_errors_are_masked_and_carry_the_trace_id(
    portable_db: Database, origin: str
) -> None:
    await portable_db.pool.execute(
        "INSERT INTO bars (symbol, timeframe, time, open, high, low, close, volume)"
        " VALUES ('X:BADUSD', '1m', '2024-05-06T00:00:00Z', 'NaN', 1, 1, 1, 1)"
    )
    query = '{ bars(ticker: "X:BADUSD", timeframe: M1) { open } ok: symbols(first: 1) { ticker } }'
    async with httpx.AsyncClient(base_url=origin, timeout=30) as client:
        response = await client.post("/graphql", json={"query": query})
    body = response.json()
    assert response.status_code == 200
    (error,) = body["errors"]
    assert error["message"] == "Internal server error"
    assert error["extensions"] == {"code": "INTERNAL", "traceId": response.headers["x-trace-id"]}
    assert "nan" not in response.text.lower()
    assert body["data"]["bars"] is None and body["data"]["ok"] == []  # the rest is answered


async def test_client_mistakes_are_json_and_never_internal(origin: str) -> None:
    requests: list[dict[str, Any]] = [
        {"json": {"query": "{ bars(ticker: "}},  # syntax
        {"json": {"query": "{ nope }"}},  # validation
        {"json": {"query": 'query($t: DateTime!) { bars(ticker: "AAPL", from: $t) { time } }',
                  "variables": {"t": "2024-05-06T00:00:00"}}},  # naive time
        {"json": {"query": '{ bars(ticker: "aapl") { time } }'}},  # malformed ticker
        {"json": {}},  # no query
        {"content": b"[1]", "headers": {"Content-Type": "application/json"}},
        {"content": b"{oops", "headers": {"Content-Type": "application/json"}},
    ]  # fmt: skip
    async with httpx.AsyncClient(base_url=origin, timeout=30) as client:
        for request in requests:
            response = await client.post("/graphql", **request)
            assert response.headers["content-type"].startswith("application/json"), request
            body = response.json()
            if response.status_code == 200:
                codes = {e["extensions"]["code"] for e in body["errors"]}
                assert codes == {"BAD_USER_INPUT"}, (request, body)
            else:
                assert response.status_code == 400, request
                assert body["code"] == "BAD_USER_INPUT", request
