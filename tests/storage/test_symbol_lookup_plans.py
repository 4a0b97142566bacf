"""Looking a ticker up reads a handful of pages, however many bars are stored.

A lookup asks whether a ticker without reference data has stored bars. Asked with `EXISTS`, the
planner expected a match within a few rows (a twentieth of the table for each of 20 symbols)
and scanned `bars` sequentially: for a ticker with no bars, the whole table (17 ms over 250,000
bars; 200 ms for a lookup of 50 tickers whose bars were stored symbol after symbol). Anyone can
ask for such a ticker. The lookup must probe the primary key, whichever plan PostgreSQL uses.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from domain.timeframes import Timeframe
from storage.bars_write import upsert_bars
from storage.features import RollupBackend
from storage.symbols import LOOKUP_SQL, lookup_symbols
from tests.support.bars import minute_bars
from tests.support.databases import Database, Server, Template, cloned_database
from tests.support.plans import pages_touched, root_plan

START = datetime(2024, 3, 4, tzinfo=UTC)
STORED = [f"X:S{i:02d}USD" for i in range(20)]
PAGES = 10  # per ticker: a probe of the primary key per base timeframe (the table: ~1,000)


@pytest_asyncio.fixture(
    scope="module", loop_scope="session", params=list(RollupBackend), ids=lambda b: b.value
)
async def stored(
    request: pytest.FixtureRequest, server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    """Two days of minutes of 20 symbols, stored symbol after symbol, with statistics."""
    async with cloned_database(server, templates, request.param) as database:
        rng = random.Random(3)
        end = START + timedelta(days=2)
        bars = [b for s in STORED for b in minute_bars(rng, s, START, end, gap_chance=0.1)]
        await upsert_bars(database.pool, Timeframe.M1, bars, database.backend)
        await database.pool.execute("ANALYZE")  # as autovacuum would: the planner knows 20
        yield database


@pytest.mark.parametrize("mode", ["force_generic_plan", "force_custom_plan"])
@pytest.mark.parametrize(
    "tickers",
    [["ZZZZ"], [STORED[-1]], ["ZZZZ", *STORED]],
    ids=["missing", "stored last", "missing among 20"],
)
async def test_a_lookup_probes_the_index_not_the_table(
    stored: Database, tickers: list[str], mode: str
) -> None:
    async with stored.pool.acquire() as conn:
        await conn.execute(f"SET plan_cache_mode = {mode}")
        try:
            explain = f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {LOOKUP_SQL}"
            raw = await conn.fetchval(explain, tickers)
        finally:
            await conn.execute("RESET plan_cache_mode")
    plan = root_plan(raw)
    assert pages_touched(plan) <= PAGES * len(tickers), pages_touched(plan)


async def test_a_lookup_finds_stored_tickers_and_only_those(stored: Database) -> None:
    found = await lookup_symbols(stored.pool, ["ZZZZ", STORED[0], "X:NOPEUSD", STORED[-1]])
    assert sorted(found) == [STORED[0], STORED[-1]]
    assert found[STORED[0]].market == "crypto"  # no reference data: known by its bars
