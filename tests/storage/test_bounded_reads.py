"""Reads bounded in time answer exactly the recomputed buckets inside their bounds, also where
the bounds cut through the newest, unfinished buckets that real-time aggregation answers on
TimescaleDB (the tail above each watermark), on both backends."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.timeframes import Timeframe, levels_from
from storage.bars_live import fetch_ranges
from storage.bars_read import fetch_bars, window_summary
from storage.bars_write import BarIn, write_bars
from storage.caggs import drain_pending
from storage.features import RollupBackend
from tests.support.bars import assert_bars_equal, daily_bars, expected_rollup, minute_bars
from tests.support.databases import Database

DAY = datetime(2024, 3, 11, tzinfo=UTC)  # a Monday
SYMBOLS = ["AAPL", "X:BTCUSD"]  # in the order every read returns them
MINUTES_END = DAY + timedelta(hours=14, minutes=8)
MINUTES_NOW = DAY + timedelta(hours=14, minutes=7, seconds=30)  # 14:05 5m bucket unfinished
DAYS_NOW = datetime(2024, 3, 20, 12, tzinfo=UTC)  # this week and month unfinished
# Bounds below, at and above each level's watermark, inside unfinished buckets, and open.
_CUTS = ((11, 0), (12, 0), (13, 3), (14, 0), (14, 6), (15, 0))
MINUTE_BOUNDS = [None] + [DAY + timedelta(hours=h, minutes=m) for h, m in _CUTS]
DAY_BOUNDS = [
    None, datetime(2024, 2, 26, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC),
    datetime(2024, 3, 13, tzinfo=UTC), datetime(2024, 3, 18, tzinfo=UTC),
    datetime(2024, 3, 19, 12, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC),
]  # fmt: skip


def _pairs(bounds: list[datetime | None]) -> list[tuple[datetime | None, datetime | None]]:
    return [(s, e) for s in bounds for e in bounds if s is None or e is None or s < e]


async def _store(db: Database, base: Timeframe, bars: list[BarIn], now: datetime) -> None:
    """Write `bars`; on TimescaleDB materialize what is complete at `now`, leaving a tail."""
    async with db.pool.acquire() as conn:
        pending = (await write_bars(conn, base, bars, db.backend)).pending
        if db.backend is RollupBackend.CAGGS:
            await drain_pending(conn, pending, now=now)


@pytest.fixture
def minutes() -> list[BarIn]:
    rng = random.Random(21)
    return [b for s in SYMBOLS for b in minute_bars(rng, s, DAY + timedelta(hours=9), MINUTES_END)]


@pytest.fixture
def days() -> list[BarIn]:
    rng = random.Random(22)
    return [b for s in SYMBOLS for b in daily_bars(rng, s, date(2024, 1, 20), date(2024, 3, 20))]


async def _assert_bounded_reads(
    db: Database, bars: list[BarIn], base: Timeframe, bounds: list[datetime | None]
) -> None:
    for rollup in levels_from(base):
        recomputed = expected_rollup(bars, rollup.timeframe)
        for start, end in _pairs(bounds):
            expected = [
                e
                for e in recomputed
                if (start is None or e.time >= start) and (end is None or e.time < end)
            ]
            got = await fetch_bars(db.pool, SYMBOLS, rollup.timeframe, start, end, limit=10_000)
            assert_bars_equal(got, expected, (rollup.relation, start, end))
            newest = await fetch_bars(
                db.pool, SYMBOLS, rollup.timeframe, start, end, limit=2, order="desc"
            )
            tails = [e for s in SYMBOLS for e in [x for x in expected if x.symbol == s][-2:][::-1]]
            assert_bars_equal(newest, tails, (rollup.relation, start, end, "desc"))


async def test_bounded_minute_rollup_reads_across_the_watermark(
    db: Database, minutes: list[BarIn]
) -> None:
    await _store(db, Timeframe.M1, minutes, MINUTES_NOW)
    await _assert_bounded_reads(db, minutes, Timeframe.M1, MINUTE_BOUNDS)


async def test_bounded_daily_rollup_reads_across_the_watermark(
    db: Database, days: list[BarIn]
) -> None:
    await _store(db, Timeframe.D1, days, DAYS_NOW)
    await _assert_bounded_reads(db, days, Timeframe.D1, DAY_BOUNDS)


async def test_ranges_across_the_watermark(db: Database, minutes: list[BarIn]) -> None:
    await _store(db, Timeframe.M1, minutes, MINUTES_NOW)
    lows = [DAY + timedelta(hours=10), DAY + timedelta(hours=13, minutes=55)]
    highs = [DAY + timedelta(hours=12), DAY + timedelta(hours=14, minutes=5)]
    for rollup in levels_from(Timeframe.M1):
        recomputed = expected_rollup(minutes, rollup.timeframe)
        _, got = await fetch_ranges(db.pool, rollup.timeframe, SYMBOLS, lows, highs)
        expected = [
            e
            for e in recomputed
            for symbol, lo, hi in zip(SYMBOLS, lows, highs, strict=True)
            if e.symbol == symbol and lo <= e.time <= hi
        ]
        assert_bars_equal(got, expected, rollup.relation)


@pytest.mark.parametrize(
    ("start", "end", "source"),
    [
        (DAY + timedelta(hours=9), DAY + timedelta(hours=14, minutes=10), Timeframe.M5),
        (DAY + timedelta(hours=12), DAY + timedelta(hours=14), Timeframe.H1),
        (DAY + timedelta(hours=12), DAY + timedelta(hours=16), Timeframe.H4),
        (
            DAY + timedelta(hours=13, minutes=45),
            DAY + timedelta(hours=14, minutes=15),
            Timeframe.M15,
        ),
    ],
)
async def test_window_summaries_across_the_watermark(
    db: Database, minutes: list[BarIn], start: datetime, end: datetime, source: Timeframe
) -> None:
    await _store(db, Timeframe.M1, minutes, MINUTES_NOW)
    summaries = await window_summary(db.pool, SYMBOLS, start, end)
    for symbol in SYMBOLS:
        inside = [b for b in minutes if b.symbol == symbol and start <= b.time < end]
        summary = summaries[symbol]
        assert summary.source_timeframe is source
        assert (summary.open, summary.close, summary.bar_count) == (
            inside[0].open, inside[-1].close, len(inside),
        )  # fmt: skip
        assert summary.high == max(b.high for b in inside)
        assert summary.low == min(b.low for b in inside)
        assert summary.volume == pytest.approx(sum(b.volume for b in inside), rel=1e-9)
