"""Continuous aggregates hold their rows after writes, rather than answering by real-time
aggregation: each materialization hypertable equals a recomputation from the base bars and each
watermark sits at the end of the last complete bucket, whatever order, crash or concurrency the
writes came in."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, date, datetime, timedelta

from domain.timeframes import Timeframe, bucket_end, bucket_start, levels_from
from gateway.database import open_database
from storage.bars_read import fetch_bars
from storage.bars_write import BarIn, upsert_bars, write_bars
from storage.caggs import drain_pending, watermarks
from storage.pool import connect
from tests.support.bars import (
    assert_bars_equal,
    daily_bars,
    expected_rollup,
    minute_bars,
)
from tests.support.databases import Database
from tests.support.live_server import gateway_settings
from tests.support.materialized import materialized_rows, pending_ranges

SYMBOLS = ["AAPL", "BRK.B", "X:BTCUSD"]
MINUTE_LEVELS = levels_from(Timeframe.M1)
DAY = datetime(2024, 3, 11, tzinfo=UTC)  # a Monday


def _minutes(
    seed: int, start: datetime, end: datetime, symbols: list[str] = SYMBOLS
) -> list[BarIn]:
    rng = random.Random(seed)
    return [b for s in symbols for b in minute_bars(rng, s, start, end)]


def _days(seed: int) -> list[BarIn]:
    rng = random.Random(seed)
    return [b for s in SYMBOLS for b in daily_bars(rng, s, date(2023, 12, 20), date(2024, 4, 10))]


async def _assert_materialized(db: Database, written: dict[Timeframe, list[BarIn]]) -> None:
    """Every level stores exactly the recomputed buckets; its watermark ends the last one."""
    marks = await watermarks(db.pool)
    for base, bars in written.items():
        for rollup in levels_from(base):
            expected = expected_rollup(bars, rollup.timeframe, labelled=False)
            rows = await materialized_rows(db.pool, rollup.relation)
            assert_bars_equal(rows, expected, rollup.relation)
            last = max(e.time for e in expected)
            assert marks[rollup.relation] == bucket_end(rollup.timeframe, last), rollup.relation
    assert await pending_ranges(db.pool) == []


async def test_every_level_is_materialized_after_writes(caggs_db: Database) -> None:
    minutes = _minutes(1, DAY - timedelta(days=3), DAY + timedelta(days=1, hours=20))
    days = _days(2)
    await upsert_bars(caggs_db.pool, Timeframe.M1, minutes, caggs_db.backend)
    await upsert_bars(caggs_db.pool, Timeframe.D1, days, caggs_db.backend)
    await _assert_materialized(caggs_db, {Timeframe.M1: minutes, Timeframe.D1: days})


async def test_a_backfill_below_the_watermark_is_materialized(caggs_db: Database) -> None:
    recent = _minutes(3, DAY, DAY + timedelta(days=1))
    await upsert_bars(caggs_db.pool, Timeframe.M1, recent, caggs_db.backend)
    before = await watermarks(caggs_db.pool)
    old = _minutes(4, DAY - timedelta(days=40), DAY - timedelta(days=38))
    corrected = [recent[7]._replace(high=recent[7].high * 3)]  # and a correction in between
    await upsert_bars(caggs_db.pool, Timeframe.M1, old, caggs_db.backend)
    await upsert_bars(caggs_db.pool, Timeframe.M1, corrected, caggs_db.backend)
    assert await watermarks(caggs_db.pool) == before  # both landed under every watermark
    recent[7] = corrected[0]
    await _assert_materialized(caggs_db, {Timeframe.M1: old + recent})


async def test_a_crash_between_write_and_refresh_is_finished_at_start_up(
    caggs_db: Database,
) -> None:
    bars = _minutes(5, DAY, DAY + timedelta(hours=30))
    conn = await connect(caggs_db.url)
    try:
        times, pending = (await write_bars(conn, Timeframe.M1, bars, caggs_db.backend))[1:]
    finally:
        await conn.close()  # the process dies here: committed, never refreshed
    assert len(times) == len(bars) and pending
    assert len(await pending_ranges(caggs_db.pool)) == len(pending)
    for rollup in MINUTE_LEVELS:
        assert await materialized_rows(caggs_db.pool, rollup.relation) == []
    for rollup in MINUTE_LEVELS:  # real-time aggregation answers meanwhile
        rows = await fetch_bars(caggs_db.pool, SYMBOLS, rollup.timeframe, limit=10_000)
        assert_bars_equal(rows, expected_rollup(bars, rollup.timeframe))
    opened = await open_database(gateway_settings(caggs_db.url, timescaledb="auto"))
    await opened.close()  # the gateway's start-up, which finishes the interrupted refreshes
    assert await pending_ranges(caggs_db.pool) == []
    await _assert_materialized(caggs_db, {Timeframe.M1: bars})


async def test_concurrent_writers_all_end_materialized(caggs_db: Database) -> None:
    bars = _minutes(10, DAY - timedelta(days=1), DAY + timedelta(days=1))
    writers = [bars[i::6] for i in range(6)]  # every writer touches every bucket
    await asyncio.gather(
        *(upsert_bars(caggs_db.pool, Timeframe.M1, w, caggs_db.backend) for w in writers)
    )
    await _assert_materialized(caggs_db, {Timeframe.M1: bars})


async def test_unfinished_buckets_wait_for_real_time_until_complete(caggs_db: Database) -> None:
    bars = _minutes(6, DAY, DAY + timedelta(hours=14, minutes=8), ["X:BTCUSD"])
    now = DAY + timedelta(hours=14, minutes=7, seconds=30)  # the 14:05 bucket is unfinished
    async with caggs_db.pool.acquire() as conn:
        pending = (await write_bars(conn, Timeframe.M1, bars, caggs_db.backend)).pending
        await drain_pending(conn, pending, now=now)
    marks = await watermarks(caggs_db.pool)
    for rollup in MINUTE_LEVELS:
        assert marks[rollup.relation] == bucket_start(rollup.timeframe, now), rollup.relation
        done = [b for b in bars if b.time < bucket_start(rollup.timeframe, now)]
        expected = expected_rollup(done, rollup.timeframe, labelled=False)
        assert_bars_equal(await materialized_rows(caggs_db.pool, rollup.relation), expected)
        rows = await fetch_bars(caggs_db.pool, ["X:BTCUSD"], rollup.timeframe, limit=10_000)
        assert_bars_equal(rows, expected_rollup(bars, rollup.timeframe))  # tail included
    assert [(r["start"], r["end"]) for r in await pending_ranges(caggs_db.pool)] == [
        (DAY + timedelta(hours=12), DAY + timedelta(hours=14, minutes=8))
    ]
    async with caggs_db.pool.acquire() as conn:  # later, any drain finishes them
        await drain_pending(conn, now=now + timedelta(hours=3))
    await _assert_materialized(caggs_db, {Timeframe.M1: bars})
