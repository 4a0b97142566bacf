"""A level's newest bars are read through the symbol's own rows, however long the history: the
newest 5m bar of a symbol the level lacks reads a handful of pages, not every stored bucket
(with few symbols the planner preferred the materialized hypertable's time-only index, filtering
by symbol: a full scan of the level for such a symbol)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from domain.records import Order
from domain.timeframes import Timeframe
from storage.bars_read import bars_sql
from storage.bars_write import upsert_bars
from tests.support.bars import minute_bars
from tests.support.databases import Database
from tests.support.plans import pages_touched, root_plan

START = datetime(2024, 1, 1, tzinfo=UTC)
PRESENT = ["X:BTCUSD", "X:ETHUSD"]


async def test_the_newest_bar_of_a_missing_symbol_reads_a_few_pages(caggs_db: Database) -> None:
    rng = random.Random(5)
    end = START + timedelta(days=150)  # three chunks of each level
    bars = [b for s in PRESENT for b in minute_bars(rng, s, START, end, gap_chance=0.9)]
    await upsert_bars(caggs_db.pool, Timeframe.M1, bars, caggs_db.backend)
    await caggs_db.pool.execute("ANALYZE")  # as autovacuum would: the planner knows 2 symbols
    async with caggs_db.pool.acquire() as conn:
        cases: list[tuple[Order, list[str]]] = [
            ("desc", ["AAPL"]),
            ("desc", [*PRESENT[:1], "AAPL"]),
            ("asc", ["AAPL"]),
        ]
        for order, symbols in cases:
            sql = bars_sql(Timeframe.M5, order, False, False)
            raw = await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", symbols, 1)
            plan = root_plan(raw)
            rows = await conn.fetch(sql, symbols, 1)
            assert [r["symbol"] for r in rows] == symbols[:-1]
            touched = pages_touched(plan)
            assert touched < 100, (order, symbols, touched)  # the old plan: ~31k
