"""Reads of rollups keep one cached plan per connection, whatever the number of symbols.

PostgreSQL plans a prepared statement for its first five calls, then keeps the generic plan if
it looks no dearer than those; otherwise it plans again on every call. The length of the
symbols array must not tip that choice (storage/array_parameters.py): a one-symbol window
summary over a day of minutes paid 0.3 ms of planning on every call.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import pytest_asyncio

from domain.timeframes import Timeframe
from storage.bars_read import (
    bars_sql,
    fetch_bars,
    latest_bars,
    ranges_sql,
    summary_sql,
    window_summary,
)
from storage.bars_write import upsert_bars
from storage.features import RollupBackend
from tests.support.bars import minute_bars
from tests.support.databases import Database, Server, Template, cloned_database

START = datetime(2024, 3, 4, tzinfo=UTC)
END = START + timedelta(days=2)
STORED = [f"X:S{i:02d}USD" for i in range(20)]
UNKNOWN = [f"X:N{i:02d}USD" for i in range(30)]
CALLS = 12  # more than the five custom plans PostgreSQL makes before it may keep one

Read = Callable[[asyncpg.Connection, list[str]], Awaitable[object]]


def _ranges(conn: asyncpg.Connection, symbols: list[str]) -> Awaitable[object]:
    lows, highs = [START] * len(symbols), [END] * len(symbols)
    return conn.fetch(ranges_sql(Timeframe.M5), symbols, lows, highs)


READS: dict[str, tuple[str, Read]] = {
    "summary of 4h buckets": (  # a day's window tiles into 4h buckets
        summary_sql(Timeframe.H4),
        lambda conn, symbols: window_summary(conn, symbols, START, START + timedelta(days=1)),
    ),
    "bars of a rollup": (
        bars_sql(Timeframe.H1, "asc", True, False),
        lambda conn, symbols: fetch_bars(conn, symbols, "1h", START, limit=5),
    ),
    "latest bar of a rollup": (
        bars_sql(Timeframe.M5, "desc", False, False),
        lambda conn, symbols: latest_bars(conn, symbols, "5m"),
    ),
    "bars in ranges": (ranges_sql(Timeframe.M5), _ranges),
}


@pytest_asyncio.fixture(
    scope="module", loop_scope="session", params=list(RollupBackend), ids=lambda b: b.value
)
async def stored(
    request: pytest.FixtureRequest, server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    """Two days of minutes of 20 symbols, loaded once: the tests only read. With a handful of
    rows the planner costs a lookup so low that even ten of them look cheap, and the cached
    plan is kept whatever the statement."""
    async with cloned_database(server, templates, request.param) as database:
        rng = random.Random(11)
        bars = [b for s in STORED for b in minute_bars(rng, s, START, END, gap_chance=0.1)]
        await upsert_bars(database.pool, Timeframe.M1, bars, database.backend)
        await database.pool.execute("ANALYZE")  # as autovacuum would: real statistics
        yield database


@pytest.mark.parametrize("count", [1, 2, 50], ids=["1 symbol", "2 symbols", "50 symbols"])
@pytest.mark.parametrize("name", list(READS))
async def test_a_read_is_planned_five_times_then_served_by_its_cached_plan(
    stored: Database, name: str, count: int
) -> None:
    sql, read = READS[name]
    symbols = [*STORED, *UNKNOWN][:count]
    conn = await asyncpg.connect(stored.url)  # a session of its own: no statement prepared yet
    try:
        for _ in range(CALLS):
            answer = await read(conn, symbols)
        assert answer, "the read found nothing: its plans were not put to work"
        row = await conn.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE statement = $1",
            sql,
        )
    finally:
        await conn.close()
    assert row is not None, "the statement was not prepared on this connection"
    assert (row["generic_plans"], row["custom_plans"]) == (CALLS - 5, 5)
