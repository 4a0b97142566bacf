"""Writes whose continuous aggregates are materialized together, once, instead of per write.

TimescaleDB invalidates an aggregate by time range only, for every symbol: a backfill that
refreshed after each ticker's month re-materialized the other tickers' buckets of that month
again and again. A backfill that writes a window for every ticker first and then drains once
refreshes each bucket once. Until `flush`, the window's rollups are stale (its pending rows are
committed with the bars, so a crash leaves them for the start-up drain, as for any write).
Portable rollups are refreshed inside each write's transaction and never wait here.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import asyncpg

from domain.timeframes import Timeframe
from storage import caggs
from storage.notify import Stage, notify_written


class RollupBatch:
    """Collects what writes left pending; `flush()` materializes and announces it."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._pending: list[int] = []
        self._changed: dict[Timeframe, tuple[list[str], list[datetime]]] = {}

    def add(
        self,
        timeframe: Timeframe,
        symbols: Sequence[str],
        times: Sequence[datetime],
        pending: Sequence[int],
    ) -> None:
        """Remember one committed write's pending rows and changed bars."""
        self._pending.extend(pending)
        changed = self._changed.setdefault(timeframe, ([], []))
        changed[0].extend(symbols)
        changed[1].extend(times)

    async def flush(self) -> int:
        """Materialize every level over what was added (one drain), then tell listeners."""
        if not self._pending:
            return 0
        pending, changed = self._pending, self._changed
        self._pending, self._changed = [], {}
        async with self._pool.acquire() as conn:
            drained = await caggs.drain_pending(conn, pending)
            for timeframe, (symbols, times) in changed.items():
                await notify_written(conn, timeframe, symbols, times, Stage.ROLLUPS)
        return drained
