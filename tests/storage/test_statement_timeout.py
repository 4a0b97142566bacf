"""The pool's statement timeout: requests' statements are cancelled at it, with an error the
client can act on; the rollup drain, which legitimately runs long, is not."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
import pytest_asyncio

from domain.errors import StatementTimeout, Unavailable
from storage import caggs
from storage.pool import connect, create_pool
from storage.symbols import lookup_symbols
from storage.unavailable import client_error
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
