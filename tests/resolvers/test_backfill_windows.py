"""A multi-ticker backfill stores a window for every ticker, then materializes it once: rollups
end correct on both backends, and live listeners hear about each window's rollups once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg

from domain.timeframes import Timeframe, levels_from
from resolvers.backfill import backfill
from resolvers.read_through import ReadThrough
from storage.bars_read import fetch_bars
from storage.bars_write import BarIn
from storage.features import RollupBackend
from storage.notify import CHANNEL, BarsWritten, Stage, decode
from tests.fakes.polygon_server import FakePolygon, make_bars
from tests.resolvers.test_read_through import client_for
from tests.support.bars import assert_bars_equal, expected_rollup
from tests.support.databases import Database
from tests.support.materialized import materialized_rows, pending_ranges
from tests.support.time import FakeTime

TICKERS = ["X:BTCUSD", "X:ETHUSD", "X:SOLUSD"]
SPAN = (datetime(2024, 1, 29, tzinfo=UTC), datetime(2024, 2, 3, tzinfo=UTC))  # two months
NOW = datetime(2025, 6, 1, tzinfo=UTC)


def _bar(row: asyncpg.Record) -> BarIn:
    return BarIn(
        row["symbol"], row["time"], row["open"], row["high"], row["low"], row["close"],
        row["volume"], row["vwap"], row["trades"],
    )  # fmt: skip


async def _backfill_listening(db: Database, fake: FakePolygon) -> list[BarsWritten]:
    for seed, ticker in enumerate(TICKERS, 1):
        fake.add_bars(
            ticker, make_bars(SPAN[0], 5 * 1440, timedelta(minutes=1), seed=seed), 1, "minute"
        )
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(db.url)
    await listener.add_listener(CHANNEL, lambda *args: heard.put_nowait(args[3]))
    client = client_for(fake)
    service = ReadThrough(db.pool, db.backend, client, clock=FakeTime(wall_start=NOW).wall)
    try:
        report = await backfill(service, TICKERS, "1m", *SPAN)
        await listener.execute("SELECT 1")  # notifications sent before this have arrived
    finally:
        await service.aclose()
        await client.aclose()
        await listener.close()
    assert report.errors == {} and report.chunks == 2 * len(TICKERS)
    assert report.bars_stored == 3 * 5 * 1440
    out = []
    while not heard.empty():
        decoded = decode(heard.get_nowait())
        assert decoded is not None
        out.append(decoded)
    return out


async def test_backfill_materializes_each_window_once(
    db: Database, fake_polygon: FakePolygon
) -> None:
    heard = await _backfill_listening(db, fake_polygon)
    rows = await fetch_bars(db.pool, TICKERS, Timeframe.M1, limit=1_000_000)
    bars = [_bar(r) for r in rows]
    assert len(bars) == 3 * 5 * 1440
    for rollup in levels_from(Timeframe.M1):
        got = await fetch_bars(db.pool, TICKERS, rollup.timeframe, limit=1_000_000)
        assert_bars_equal(got, expected_rollup(bars, rollup.timeframe), rollup.relation)
    if db.backend is RollupBackend.PORTABLE:
        return  # refreshed in each write's transaction: nothing waits for the window
    for rollup in levels_from(Timeframe.M1):
        stored = await materialized_rows(db.pool, rollup.relation)
        expected = expected_rollup(bars, rollup.timeframe, labelled=False)
        assert_bars_equal(stored, expected, rollup.relation)
    assert await pending_ranges(db.pool) == []
    refreshes = {n.xid: n for n in heard if n.stage is Stage.ROLLUPS}
    assert len(refreshes) == 2  # one per month, however many tickers
    assert all(set(n.runs) == set(TICKERS) for n in refreshes.values())
