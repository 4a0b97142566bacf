"""Another process writing bars through the write path, so notifications cross processes.

    python -m tests.support.ingest_process URL TICKER START_ISO COUNT BATCH [TIMESCALEDB]

writes COUNT one-minute bars of TICKER from START, BATCH per transaction, in time order
(bar i has volume i + 1, so each bar is recognisable).
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime, timedelta

from storage.bars_write import BarIn, upsert_bars
from storage.features import RollupBackend
from storage.pool import create_pool


def minute(ticker: str, start: datetime, i: int) -> BarIn:
    price = 100 + i % 7
    return BarIn(ticker, start + timedelta(minutes=i), price, price + 1, price - 1, price, i + 1)


async def ingest(
    url: str, ticker: str, start: datetime, count: int, batch: int, backend: str
) -> None:
    pool = await create_pool(url, min_size=1, max_size=1)
    try:
        for first in range(0, count, batch):
            bars = [minute(ticker, start, i) for i in range(first, min(first + batch, count))]
            await upsert_bars(pool, "1m", bars, RollupBackend(backend))
    finally:
        await pool.close()


if __name__ == "__main__":
    url, ticker, start, count, batch, *rest = sys.argv[1:]
    backend = rest[0] if rest else RollupBackend.PORTABLE.value
    asyncio.run(ingest(url, ticker, datetime.fromisoformat(start), int(count), int(batch), backend))
