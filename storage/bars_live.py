"""Reads for live subscriptions, each with the snapshot it saw.

The snapshot tells a subscriber which writes a read already included (`Snapshot.sees` on a
notification's transaction id), so a replay followed by live updates has no gap and no
duplicate.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import TypeVar

import asyncpg

from domain.timeframes import Timeframe
from storage.bars_read import fetch_bars, ranges_sql
from storage.notify import Snapshot
from storage.pool import Conn
from storage.unavailable import when_unreachable

T = TypeVar("T")


async def _in_snapshot(
    pool: asyncpg.Pool, read: Callable[[Conn], Awaitable[T]]
) -> tuple[Snapshot, T]:
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        # the first statement fixes the transaction's snapshot; the read uses the same one
        snapshot = Snapshot.parse(await conn.fetchval("SELECT pg_current_snapshot()::text"))
        return snapshot, await read(conn)


@when_unreachable
async def fetch_ranges(
    pool: asyncpg.Pool,
    timeframe: Timeframe,
    symbols: Sequence[str],
    lows: Sequence[datetime],
    highs: Sequence[datetime],
) -> tuple[Snapshot, list[asyncpg.Record]]:
    """Bars in each (symbol, lo, hi) range (see `ranges_sql`), with the snapshot read."""

    async def read(conn: Conn) -> list[asyncpg.Record]:
        return await conn.fetch(ranges_sql(timeframe), list(symbols), list(lows), list(highs))

    return await _in_snapshot(pool, read)


@when_unreachable
async def fetch_since(
    pool: asyncpg.Pool, symbols: Sequence[str], timeframe: Timeframe, since: datetime, limit: int
) -> tuple[Snapshot, list[asyncpg.Record]]:
    """Bars of each symbol from `since` on (at most `limit` each), with the snapshot read."""

    async def read(conn: Conn) -> list[asyncpg.Record]:
        return await fetch_bars(conn, symbols, timeframe, since, limit=limit)

    return await _in_snapshot(pool, read)
