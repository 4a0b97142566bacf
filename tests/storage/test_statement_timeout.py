"""The pool's statement timeout: requests' statements are cancelled at it, with an error the
client can act on; the rollup drain, which legitimately runs long, and our own writes (stored
bars, usage accounting) are not."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import pytest_asyncio

from domain.errors import StatementTimeout, Unavailable
from domain.timeframes import Timeframe
from storage import caggs
from storage.bars_write import upsert_bars
from storage.features import RollupBackend
from storage.pool import connect, create_pool
from storage.symbols import lookup_symbols
from storage.unavailable import client_error
from tests.support.bars import minute_bars
from tests.support.databases import Database

LIMIT = 0.05  # seconds; each wait below is for a lock held ten times as long
OTHER_LOCK = 0x6D675F74657374


@pytest_asyncio.fixture(loop_scope="session")
async def pool(portable_db: Database) -> AsyncIterator[asyncpg.Pool]:
    limited = await create_pool(portable_db.url, min_size=1, max_size=2, statement_timeout=LIMIT)
    yield limited
    await limited.close()


@pytest_asyncio.fixture(loop_scope="session")
async def holder(portable_db: Database) -> AsyncIterator[asyncpg.Connection]:
    conn = await connect(portable_db.url)
    yield conn
    await conn.close()


async def test_the_rollup_drain_outlasts_the_statement_timeout(
    pool: asyncpg.Pool, holder: asyncpg.Connection
) -> None:
    await holder.execute("SELECT pg_advisory_lock($1)", caggs.DRAIN_LOCK_KEY)
    async with pool.acquire() as conn:
        drain = asyncio.create_task(caggs.drain_pending(conn))
        await asyncio.sleep(LIMIT * 10)  # the drain waits for the lock all this time
        await holder.execute("SELECT pg_advisory_unlock($1)", caggs.DRAIN_LOCK_KEY)
        assert await drain == 0
        assert await conn.fetchval("SHOW statement_timeout") == "50ms"  # back for requests


async def test_a_request_statement_is_cancelled_at_the_timeout(
    pool: asyncpg.Pool, holder: asyncpg.Connection
) -> None:
    await holder.execute("SELECT pg_advisory_lock($1)", OTHER_LOCK)
    try:
        with pytest.raises(asyncpg.QueryCanceledError) as cancelled:
            await pool.execute("SELECT pg_advisory_lock($1)", OTHER_LOCK)
    finally:
        await holder.execute("SELECT pg_advisory_unlock($1)", OTHER_LOCK)
    assert isinstance(client_error(cancelled.value), StatementTimeout)
    assert isinstance(client_error(ConnectionResetError()), Unavailable)  # not every failure
    assert await lookup_symbols(pool, ["AAPL"]) == {}  # a quick statement runs as ever


async def test_stored_bars_outlast_the_statement_timeout(
    pool: asyncpg.Pool, holder: asyncpg.Connection
) -> None:
    """A write that waits on a row another transaction holds (a concurrent ingest of the same
    bar) still stores its bars: they were paid for upstream."""
    start = datetime(2024, 3, 4, 15, tzinfo=UTC)
    first = minute_bars(random.Random(7), "X:BTCUSD", start, start + timedelta(minutes=5), 0)
    await upsert_bars(pool, Timeframe.M1, first, RollupBackend.PORTABLE)
    corrected = [bar._replace(volume=bar.volume + 1) for bar in first]
    async with holder.transaction():
        await holder.execute("SELECT 1 FROM bars WHERE symbol = 'X:BTCUSD' FOR UPDATE")
        write = asyncio.create_task(
            upsert_bars(pool, Timeframe.M1, corrected, RollupBackend.PORTABLE)
        )
        await asyncio.sleep(LIMIT * 10)  # the write waits for the rows all this time
    assert await write == len(corrected)
    volumes = await pool.fetch(
        "SELECT volume FROM bars WHERE symbol = 'X:BTCUSD' AND timeframe = '1m' ORDER BY time"
    )
    assert [row["volume"] for row in volumes] == [bar.volume for bar in corrected]
