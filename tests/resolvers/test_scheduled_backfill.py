"""A scheduled run backfills every tracked symbol through the batched path: each month is
stored for all symbols and then materialized once, rollups end correct on both backends, and a
symbol that breaks fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import asyncpg

from domain.timeframes import Timeframe, levels_from
from resolvers.scheduled_backfill import RunSummary, run_tracked_backfill
from storage import tracked_symbols
from storage.bars_read import fetch_bars
from storage.bars_write import BarIn
from storage.features import RollupBackend
from storage.notify import CHANNEL, BarsWritten, Stage, decode
from tests.fakes.polygon_server import FakePolygon, make_bars
from tests.resolvers.test_read_through import read_through
from tests.support.bars import assert_bars_equal, expected_rollup
from tests.support.databases import Database
from tests.support.graphql import make_services
from tests.support.materialized import materialized_rows, pending_ranges

MINUTE_TRACKED = ["X:BTCUSD", "X:ETHUSD", "X:SOLUSD"]
NOW = datetime(2024, 2, 3, tzinfo=UTC)
LOOKBACK = timedelta(days=5)  # from 2024-01-29: two months
MINUTES = 5 * 1440
DAYS = 5


def _bar(row: asyncpg.Record) -> BarIn:
    return BarIn(
        row["symbol"], row["time"], row["open"], row["high"], row["low"], row["close"],
        row["volume"], row["vwap"], row["trades"],
    )  # fmt: skip


async def _track(db: Database, fake: FakePolygon) -> None:
    start = NOW - LOOKBACK
    for seed, ticker in enumerate(MINUTE_TRACKED, 1):
        bars = make_bars(start, MINUTES, timedelta(minutes=1), seed=seed)
        fake.add_bars(ticker, bars, 1, "minute")
        timeframes = [Timeframe.M15, Timeframe.D1] if seed == 1 else [Timeframe.H1]
        await tracked_symbols.add_tracked(db.pool, ticker, "crypto", timeframes)
    fake.add_bars(MINUTE_TRACKED[0], make_bars(start, DAYS, seed=9), 1, "day")


async def _run(
    db: Database, fake: FakePolygon, on_stored: Callable[[str], None] | None = None
) -> tuple[RunSummary | None, list[BarsWritten]]:
    """One scheduled run at NOW, and the notifications it sent."""
    heard: asyncio.Queue[str] = asyncio.Queue()
    listener = await asyncpg.connect(db.url)
    await listener.add_listener(CHANNEL, lambda *args: heard.put_nowait(args[3]))
    try:
        async with read_through(
            db.pool, db.backend, fake, clock=lambda: NOW, on_stored=on_stored
        ) as service:
            services = make_services(db.pool, db.backend, read_through=service)
            summary = await run_tracked_backfill(services, NOW, lookback=LOOKBACK, now=lambda: NOW)
        await listener.execute("SELECT 1")  # notifications sent before this have arrived
    finally:
        await listener.close()
    out = []
    while not heard.empty():
        decoded = decode(heard.get_nowait())
        assert decoded is not None
        out.append(decoded)
    return summary, out


async def _assert_rollups_recomputed(db: Database, symbols: list[str]) -> None:
    bars = [_bar(r) for r in await fetch_bars(db.pool, symbols, Timeframe.M1, limit=1_000_000)]
    for rollup in levels_from(Timeframe.M1):
        got = await fetch_bars(db.pool, symbols, rollup.timeframe, limit=1_000_000)
        assert_bars_equal(got, expected_rollup(bars, rollup.timeframe), rollup.relation)
    if db.backend is RollupBackend.CAGGS:
        for rollup in levels_from(Timeframe.M1):
            stored = await materialized_rows(db.pool, rollup.relation)
            expected = expected_rollup(bars, rollup.timeframe, labelled=False)
            assert_bars_equal(stored, expected, rollup.relation)
        assert await pending_ranges(db.pool) == []


async def test_a_run_materializes_each_month_once_for_every_symbol(
    db: Database, fake_polygon: FakePolygon
) -> None:
    await _track(db, fake_polygon)
    summary, heard = await _run(db, fake_polygon)
    assert summary is not None
    assert (summary.successful, summary.failed) == (3, 0)
    assert summary.records == 3 * MINUTES + DAYS
    for ticker in MINUTE_TRACKED:
        row = await tracked_symbols.get_tracked(db.pool, ticker)
        assert row is not None and (row.backfill_status, row.last_error) == ("success", None)
        assert row.last_backfill == NOW
    await _assert_rollups_recomputed(db, MINUTE_TRACKED)
    daily = await fetch_bars(db.pool, [MINUTE_TRACKED[0]], Timeframe.D1, limit=100)
    assert len(daily) == DAYS
    if db.backend is RollupBackend.PORTABLE:
        return  # refreshed in each write's transaction: nothing waits for the month
    minute_refreshes = {
        n.xid: n for n in heard if n.stage is Stage.ROLLUPS and n.timeframe is Timeframe.M1
    }
    assert len(minute_refreshes) == 2  # one per month, however many symbols
    assert all(set(n.runs) == set(MINUTE_TRACKED) for n in minute_refreshes.values())


async def test_a_symbol_that_breaks_fails_alone(db: Database, fake_polygon: FakePolygon) -> None:
    await _track(db, fake_polygon)
    broken = MINUTE_TRACKED[1]

    def on_stored(symbol: str) -> None:  # a bug that strikes one symbol's writes
        if symbol == broken:
            raise RuntimeError("planted bug")

    summary, _ = await _run(db, fake_polygon, on_stored)
    assert summary is not None and (summary.successful, summary.failed) == (2, 1)
    row = await tracked_symbols.get_tracked(db.pool, broken)
    assert row is not None and (row.backfill_status, row.last_error) == ("failed", "internal error")
    healthy = [t for t in MINUTE_TRACKED if t != broken]
    for ticker in healthy:
        row = await tracked_symbols.get_tracked(db.pool, ticker)
        assert row is not None and row.backfill_status == "success"
        stored = await db.pool.fetchval(
            "SELECT count(*) FROM bars WHERE symbol = $1 AND timeframe = '1m'", ticker
        )
        assert stored == MINUTES
    await _assert_rollups_recomputed(db, MINUTE_TRACKED)
