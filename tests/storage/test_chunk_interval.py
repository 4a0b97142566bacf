"""Chunk-bounded reads follow the chunk interval `bars` really has: an operator who cuts `bars`
into 1-day chunks (`set_chunk_time_interval`) gets horizons and `from` bounds on day boundaries,
so a read of the newest bar plans the last few days' chunks, not the last week's or more
(storage/bar_chunks.py)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from domain.timeframes import Timeframe
from gateway.app import create_app
from schema import build_schema
from storage.bar_chunks import WEEK, bars_chunk_interval, chunk_start
from storage.bars_read import fetch_bars
from storage.bars_write import BarIn, upsert_bars
from storage.newest_bars import NewestBarTimes
from tests.support.databases import Database
from tests.support.graphql import CountingPool, make_services, run
from tests.support.live_server import gateway_settings
from tests.support.plans import generic_plan_chunks

DAY = timedelta(days=1)
CATALOG = "_timescaledb_catalog.dimension"  # where TimescaleDB keeps chunk intervals
T0 = datetime(2024, 1, 4, tzinfo=UTC)  # a Thursday, where a 7-day chunk starts
NEWEST = T0 + 62 * DAY  # Wednesday 2024-03-06: the week's chunk began 6 days before
LATEST = '{ symbol(ticker: "X:BTCUSD") { latestBar(timeframe: D1) { time close } } }'
FROM = '{ bars(ticker: "X:BTCUSD", timeframe: D1, from: "2024-03-04T12:00:00Z") { close } }'


def test_a_chunk_starts_at_a_multiple_of_its_interval_from_1970() -> None:
    for interval in (timedelta(hours=6), DAY, WEEK, timedelta(days=30)):
        for time in (T0, NEWEST + timedelta(hours=13, microseconds=5), T0 - DAY / 3):
            start = chunk_start(time, interval)
            assert time - interval < start <= time
            assert (start - datetime(1970, 1, 1, tzinfo=UTC)) % interval == timedelta(0)
    assert chunk_start(NEWEST, DAY) == NEWEST
    assert chunk_start(NEWEST + timedelta(hours=23), DAY) == NEWEST
    assert chunk_start(NEWEST) == NEWEST - 6 * DAY  # a week's: back to Thursday


def test_a_chunk_of_year_1_starts_no_earlier_than_the_first_datetime() -> None:
    first = datetime(1, 1, 1, tzinfo=UTC)
    for interval in (DAY, WEEK, timedelta(days=30)):
        assert chunk_start(first, interval) == first
        assert chunk_start(first + interval, interval) <= first + interval
    assert chunk_start(first + 400 * DAY, WEEK).weekday() == 3  # a Thursday, as from 1970


def test_a_horizon_falls_on_a_boundary_of_the_chunk_interval_asked_for() -> None:
    seen = NewestBarTimes()
    seen.saw(["A"], Timeframe.D1, [{"symbol": "A", "time": NEWEST}])
    reach = 2 * DAY  # one daily bar's usual reach
    assert seen.horizon(["A"], Timeframe.D1, 1, chunk=DAY) == NEWEST - reach
    assert seen.horizon(["A"], Timeframe.D1, 1) == chunk_start(NEWEST - reach) == T0 + 56 * DAY
    assert seen.horizon(["A"], Timeframe.D1, 1, chunk=DAY) == NEWEST - reach  # cached per chunk


async def _hypertable_with_daily_chunks(db: Database) -> None:
    if await bars_chunk_interval(db.pool) is None:
        pytest.skip("bars is a plain table here (no TimescaleDB): it has no chunks to size")
    await db.pool.execute("SELECT set_chunk_time_interval('bars', interval '1 day')")
    daily = [BarIn("X:BTCUSD", T0 + d * DAY, 10, 11, 9, 10 + d, 100) for d in range(63)]
    await upsert_bars(db.pool, Timeframe.D1, daily, db.backend)  # 63 chunks of one day


async def test_the_gateway_reads_the_interval_bars_is_cut_at(db: Database) -> None:
    await _hypertable_with_daily_chunks(db)
    assert await bars_chunk_interval(db.pool) == DAY
    app = create_app(gateway_settings(db.url, timescaledb="auto"))
    async with app.router.lifespan_context(app):  # the gateway's start-up
        assert app.state.services.bar_chunks == DAY
    await db.pool.execute("SELECT set_chunk_time_interval('bars', interval '30 days')")
    assert await bars_chunk_interval(db.pool) == timedelta(days=30)


READS = {LATEST: ("X:BTCUSD", 1), FROM: ("X:BTCUSD", 1000, "2024-03-04T12:00:00Z")}


@pytest.mark.parametrize(("query", "args"), list(READS.items()))
async def test_reads_of_daily_chunks_plan_days_not_weeks(
    db: Database, query: str, args: tuple[object, ...]
) -> None:
    """The newest bar (read twice: the second read starts from the horizon learnt) and a read
    from a time, with the interval the gateway reads against the 7 days it once assumed."""
    await _hypertable_with_daily_chunks(db)
    answers, planned = [], []
    for interval in (WEEK, DAY):
        pool = CountingPool(db.pool)
        services = dataclasses.replace(
            make_services(pool, db.backend), bar_chunks=interval, newest_bar_times=NewestBarTimes()
        )
        for _ in range(2):
            answers.append(await run(build_schema(), query, services))
        sql = [s for s in pool.statements if "FROM bars r" in s][-1]
        planned.append(await generic_plan_chunks(db.pool, sql, *args))
    assert all(answer == answers[0] for answer in answers)
    assert "errors" not in answers[0]
    if query == LATEST:
        assert answers[0]["data"]["symbol"]["latestBar"]["close"] == 72.0
        assert planned == [7, 3]  # Thursday to Wednesday, against Monday to Wednesday
    else:
        assert [bar["close"] for bar in answers[0]["data"]["bars"]] == [71.0, 72.0]
        assert planned == [7, 3]  # from Thursday's chunk, against Monday's
    rows = await fetch_bars(db.pool, ["X:BTCUSD"], Timeframe.D1, limit=1, order="desc")
    assert rows[0]["time"] == NEWEST


async def test_start_up_reads_the_interval_whatever_the_statement_timeout(db: Database) -> None:
    """The read is start-up's own work, not a request's: a catalog busy for longer than the
    requests' limit (here: locked for 0.6 s, against 0.1 s) failed the gateway's start, as a
    1 ms limit did on a loaded machine (it cancelled even the `BEGIN` of a pooled connection
    that was to turn the limit off)."""
    if await bars_chunk_interval(db.pool) is None:
        pytest.skip("bars is a plain table here (no TimescaleDB): nothing to read in a catalog")
    settings = gateway_settings(db.url, timescaledb="auto", statement_timeout_seconds=0.1)
    app = create_app(settings)
    async with contextlib.AsyncExitStack() as started:
        async with db.pool.acquire() as locker:
            busy = locker.transaction()
            await busy.start()
            await locker.execute(f"LOCK TABLE {CATALOG} IN ACCESS EXCLUSIVE MODE")
            starting = asyncio.create_task(
                started.enter_async_context(app.router.lifespan_context(app))
            )
            await asyncio.sleep(0.6)
            assert not starting.done()  # waiting for the catalog, not failed
            await busy.commit()
        await starting
        assert app.state.services.bar_chunks == WEEK
        assert await app.state.services.pool.fetchval("SHOW statement_timeout") == "100ms"
