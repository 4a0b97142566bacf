"""The fast path compiles a row builder once per schema and set of response names, and keeps
only so many: a client sending ever new aliases cannot grow the process without bound."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import _lru_cache_wrapper
from typing import cast

import pytest
import strawberry
from strawberry.schema.config import StrawberryConfig

import schema.fast_path
from schema import MarketSchema, build_schema
from schema.fast_path import RowBuilder, fast_execution_context
from schema.query import Query
from schema.records import read_field
from schema.scalars import DATETIME
from storage.bars_write import upsert_bars
from tests.support.bars import minute_bars
from tests.support.databases import Database
from tests.support.graphql import error_codes, make_services, run

T0 = datetime(2024, 5, 6, tzinfo=UTC)


def aliased(*names: str) -> str:
    fields = " ".join(f"{name}: close" for name in names)
    return f'{{ bars(ticker: "X:BTCUSD", timeframe: M1, limit: 3) {{ time {fields} }} }}'


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, ...]]:
    """The key sets row builders are compiled for, in order (schemas built after this)."""
    calls: list[tuple[str, ...]] = []
    compile_rows: Callable[[tuple[str, ...]], RowBuilder] = schema.fast_path.row_builder

    def counting(keys: tuple[str, ...]) -> RowBuilder:
        calls.append(keys)
        return compile_rows(keys)

    monkeypatch.setattr(schema.fast_path, "row_builder", counting)
    return calls


@pytest.fixture
async def bars_db(portable_db: Database) -> Database:
    bars = minute_bars(random.Random(3), "X:BTCUSD", T0, T0 + timedelta(minutes=10), 0)
    await upsert_bars(portable_db.pool, "1m", bars, portable_db.backend)
    return portable_db


def small_schema(max_row_builders: int) -> tuple[strawberry.Schema, _lru_cache_wrapper[RowBuilder]]:
    """A schema whose executor keeps at most `max_row_builders`, and that cache."""
    context = fast_execution_context(max_row_builders)
    market = MarketSchema(
        query=Query,
        config=StrawberryConfig(default_resolver=read_field, scalar_map={datetime: DATETIME}),
        execution_context_class=context,
    )
    return market, cast("_lru_cache_wrapper[RowBuilder]", context.row_builders)


async def test_one_compile_per_alias_set_across_requests(
    bars_db: Database, compiled: list[tuple[str, ...]]
) -> None:
    market = build_schema()
    services = make_services(bars_db.pool)
    for _ in range(5):
        body = await run(market, aliased("a", "b"), services)
        assert error_codes(body) == [] and len(body["data"]["bars"]) == 3
        assert body["data"]["bars"][0]["a"] == body["data"]["bars"][0]["b"]

    assert compiled == [("time", "a", "b")]


async def test_row_builders_are_bounded_per_schema(
    bars_db: Database, compiled: list[tuple[str, ...]]
) -> None:
    (bounded, cache), (_, other_cache) = small_schema(4), small_schema(4)
    services = make_services(bars_db.pool)
    for i in range(10):
        body = await run(bounded, aliased(f"a{i}"), services)
        assert body["data"]["bars"][2][f"a{i}"] is not None

    assert cache.cache_info().currsize == 4 and cache.cache_info().maxsize == 4
    assert other_cache.cache_info().currsize == 0  # each schema has its own
    await run(bounded, aliased("a9"), services)  # recent: still compiled
    assert len(compiled) == 10
    await run(bounded, aliased("a0"), services)  # evicted: compiled again, still right
    assert len(compiled) == 11
