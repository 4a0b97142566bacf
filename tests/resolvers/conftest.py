"""What GraphQL-layer tests share: stored market data, services over a counting pool, a runner.

Queries run in-process through the real schema against a real database; only the pool is
wrapped, to count the SQL statements each query costs.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
import strawberry
from graphql import GraphQLFormattedError

from domain.access import Principal, Scope
from resolvers.context import Services
from schema import build_schema
from storage.bars_write import BarIn, upsert_bars
from storage.symbols import SymbolIn, upsert_symbols
from tests.support.bars import daily_bars, minute_bars
from tests.support.databases import Database
from tests.support.graphql import CountingPool, execute, make_services

T0 = datetime(2024, 5, 6, tzinfo=UTC)  # a Monday
MINUTE_SYMBOLS = ("X:BTCUSD", "X:ETHUSD", "AAPL")
DAILY_SYMBOLS = ("AAPL", "MSFT", "X:BTCUSD")
REFERENCE = (
    SymbolIn("AAPL", "Apple Inc.", "stocks", "us", "XNAS", "usd"),
    SymbolIn("MSFT", "Microsoft Corp.", "stocks", "us", "XNAS", "usd"),
    SymbolIn("X:BTCUSD", "Bitcoin - United States Dollar", "crypto", "global", None, "usd"),
    SymbolIn("C:EURUSD", "Euro - United States Dollar", "fx", "global", None, "usd"),
    SymbolIn("I:SPX", "S&P 500", "indices", "us", None, None),
)


def principal(*scopes: Scope) -> Principal:
    return Principal(key_id=1, name="test key", scopes=frozenset(scopes))


@dataclass
class Answer:
    """A GraphQL response as a client sees it, plus the statements it cost."""

    data: Any
    errors: list[GraphQLFormattedError]
    extensions: dict[str, Any]
    statements: list[str] = field(default_factory=list)

    @property
    def codes(self) -> list[str | None]:
        return [(e.get("extensions") or {}).get("code") for e in self.errors]


@dataclass
class Gateway:
    """The schema over one test database; `run` executes a query as a given caller."""

    schema: strawberry.Schema
    services: Services
    pool: CountingPool

    async def run(
        self,
        query: str,
        variables: Mapping[str, Any] | None = None,
        *,
        caller: Principal | None = None,
        services: Services | None = None,
    ) -> Answer:
        before = len(self.pool.statements)
        result = await execute(
            self.schema, query, services or self.services, variables, principal=caller
        )
        return Answer(
            result.data,
            [e.formatted for e in result.errors or ()],
            dict(result.extensions or {}),
            self.pool.statements[before:],
        )


@pytest.fixture(scope="session")
def fast_schema() -> strawberry.Schema:
    return build_schema()


@pytest.fixture(scope="session")
def stock_schema() -> strawberry.Schema:
    return build_schema(fast_path=False)


def stored_minutes() -> list[BarIn]:
    rng = random.Random(7)
    return [
        b
        for s in MINUTE_SYMBOLS
        for b in minute_bars(rng, s, T0, T0 + timedelta(days=3), gap_chance=0.1)
    ]


def stored_days() -> list[BarIn]:
    rng = random.Random(8)
    return [b for s in DAILY_SYMBOLS for b in daily_bars(rng, s, date(2024, 1, 1), T0.date())]


async def store_market(database: Database) -> None:
    await upsert_symbols(database.pool, REFERENCE)
    await upsert_bars(database.pool, "1m", stored_minutes(), database.backend)
    await upsert_bars(database.pool, "1d", stored_days(), database.backend)


@pytest_asyncio.fixture(loop_scope="session")
async def gateway(portable_db: Database, fast_schema: strawberry.Schema) -> Gateway:
    """The fast schema over stored market data (portable rollups), counting statements."""
    await store_market(portable_db)
    pool = CountingPool(portable_db.pool)
    return Gateway(fast_schema, make_services(pool, portable_db.backend), pool)
