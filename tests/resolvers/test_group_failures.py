"""One symbol whose stored bars break a statement (a sum that overflows a double) fails that
symbol only: the others sharing its batch answer as they would alone, whichever way the
batch was formed (stock execution or a compiled operation)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest_asyncio

from resolvers.context import Services
from schema import build_schema
from tests.support.databases import Database
from tests.support.documents import EDGE
from tests.support.graphql import CountingPool, execute
from tests.support.market_cases import store_cases

WINDOW = 'from: "2024-05-06T00:00:00Z", to: "2024-05-06T00:04:00Z"'  # EDGE's turnover overflows
SUMMARIES = "{ symbols(tickers: %s) { ticker aggregate(%s) { close volume } } }"


@pytest_asyncio.fixture(loop_scope="session")
async def services(portable_db: Database) -> Services:
    return await store_cases(portable_db)


async def answer(services: Services, tickers: list[str], runs: int = 1) -> dict[str, Any]:
    """The body of the last of `runs` runs on one schema (the second run is compiled)."""
    schema = build_schema()
    query = SUMMARIES % (orjson.dumps(tickers).decode(), WINDOW)
    for _ in range(runs):
        result = await execute(schema, query, services)
    errors = [
        {"path": error.path, "code": (error.extensions or {}).get("code")}
        for error in result.errors or []
    ]
    return {"data": result.data, "errors": errors}


async def test_a_symbol_whose_rows_break_the_statement_fails_alone(services: Services) -> None:
    alone = await answer(services, ["X:BTCUSD"])
    (btc,) = alone["data"]["symbols"]
    assert btc["aggregate"] is not None and not alone["errors"]
    for runs in (1, 2):  # stock execution, then the compiled operation
        body = await answer(services, ["X:BTCUSD", EDGE, "X:ETHUSD"], runs)
        first, edge, eth = body["data"]["symbols"]
        assert first == btc
        assert eth["aggregate"] is not None
        assert edge == {"ticker": EDGE, "aggregate": None}
        assert body["errors"] == [{"path": ["symbols", 1, "aggregate"], "code": "INTERNAL"}]


async def test_a_batch_that_answers_costs_one_statement(services: Services) -> None:
    """Reading symbols one by one is for a failed statement only."""
    pool = CountingPool(services.pool)
    counted = Services(pool, services.backend, None, 100_000, True)  # type: ignore[arg-type]
    body = await answer(counted, ["X:BTCUSD", "X:ETHUSD"])
    assert not body["errors"]
    assert len(pool.statements) == 1
    pool.statements.clear()
    await answer(counted, ["X:BTCUSD", EDGE, "X:ETHUSD"])
    assert len(pool.statements) == 1 + 3  # the failed one, then each symbol alone
