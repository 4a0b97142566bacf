"""A read whose connection dies under it is retried once on a fresh connection."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import asyncpg
import pytest

from domain.errors import Unavailable
from storage.bars_read import fetch_bars
from storage.bars_write import BarIn, upsert_bars
from storage.pool import create_pool
from tests.support.databases import Database

DAY = datetime(2024, 1, 2, tzinfo=UTC)


async def _killed_while_reading(db: Database, pool: asyncpg.Pool, kills: int) -> object:
    """Run a read that blocks on a lock, kill its backend `kills` times, return its outcome."""
    holder, watcher = await asyncpg.connect(db.url), await asyncpg.connect(db.url)
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("LOCK TABLE bars IN ACCESS EXCLUSIVE MODE")
        read = asyncio.ensure_future(fetch_bars(pool, ["AAPL"], "1d"))
        killed: list[int] = []
        for _ in range(kills):
            pid = None
            for _ in range(1000):  # bounded: the read reaches the lock within milliseconds
                pid = await watcher.fetchval(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND wait_event_type = 'Lock' AND application_name = 'marketgraph'"
                    " AND pid <> ALL($1::int[])",
                    killed,
                )
                if pid is not None:
                    break
                await asyncio.sleep(0.01)
            assert pid is not None, "the read never waited for the lock"
            assert await watcher.fetchval("SELECT pg_terminate_backend($1)", pid)
            killed.append(pid)
        await lock.rollback()
        try:
            return await read
        except Unavailable as exc:
            return exc
    finally:
        await holder.close()
        await watcher.close()


async def test_a_read_whose_connection_died_succeeds_on_a_fresh_one(portable_db: Database) -> None:
    bar = BarIn("AAPL", DAY, 1, 2, 0.5, 1.5, 100, 1.2, 3)
    await upsert_bars(portable_db.pool, "1d", [bar], portable_db.backend)
    pool = await create_pool(portable_db.url, min_size=1, max_size=2)
    try:
        rows = await _killed_while_reading(portable_db, pool, kills=1)
        assert isinstance(rows, list) and [r["close"] for r in rows] == [1.5]
    finally:
        await pool.close()


async def test_a_read_is_retried_only_once(
    portable_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    pool = await create_pool(portable_db.url, min_size=1, max_size=2)
    try:
        with caplog.at_level(logging.WARNING, logger="storage.unavailable"):
            outcome = await _killed_while_reading(portable_db, pool, kills=2)
        assert isinstance(outcome, Unavailable)
        assert outcome.code.value == "UNAVAILABLE"
        cause = outcome.__cause__
        assert cause is not None
        (logged,) = [r for r in caplog.records if r.name == "storage.unavailable"]
        assert logged.levelno == logging.WARNING  # why the client was told to retry
        assert f"{type(cause).__name__}: {cause}" in logged.getMessage()
        assert "administrator command" in logged.getMessage()  # pg_terminate_backend's
    finally:
        await pool.close()
