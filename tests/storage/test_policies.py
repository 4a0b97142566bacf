"""TimescaleDB policies: compressed ranges still read, upsert and backfill correctly; retention
drops old minute bars but never a rollup bucket; elsewhere the settings are a logged no-op."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.timeframes import Timeframe, levels_from
from storage.bars_read import fetch_bars
from storage.bars_write import BarIn, upsert_bars
from storage.caggs import drain_pending
from storage.features import DatabaseFeatures, RollupBackend
from storage.policies import Policies, enforce, retention_cutoff, unsupported_reason
from tests.support.bars import assert_bars_equal, daily_bars, expected_rollup, minute_bars
from tests.support.databases import Database
from tests.support.materialized import compressed_chunks, materialized_rows, pending_ranges

SYMBOLS = ["AAPL", "X:BTCUSD"]
DAY = datetime(2024, 3, 11, tzinfo=UTC)  # a Monday
START = DAY - timedelta(days=21)
EIGHT_DAYS = timedelta(days=8)


def _minutes(seed: int, start: datetime, end: datetime, symbols: list[str]) -> list[BarIn]:
    rng = random.Random(seed)
    return [b for s in symbols for b in minute_bars(rng, s, start, end)]


def _days(seed: int) -> list[BarIn]:
    rng = random.Random(seed)
    return [b for s in SYMBOLS for b in daily_bars(rng, s, date(2024, 1, 2), date(2024, 3, 8))]


async def _store(db: Database, minutes: list[BarIn], days: list[BarIn]) -> None:
    await upsert_bars(db.pool, Timeframe.M1, minutes, db.backend)
    await upsert_bars(db.pool, Timeframe.D1, days, db.backend)


async def _assert_reads(db: Database, base: dict[Timeframe, list[BarIn]]) -> None:
    """Base bars as written; every rollup level, read and materialized, recomputed from them."""
    symbols = sorted({b.symbol for bars in base.values() for b in bars})
    for timeframe, bars in base.items():
        rows = await fetch_bars(db.pool, symbols, timeframe, limit=100_000)
        assert_bars_equal(rows, expected_rollup(bars, timeframe), timeframe)
    await _assert_rollups(db, base)


async def _assert_rollups(db: Database, base: dict[Timeframe, list[BarIn]]) -> None:
    symbols = sorted({b.symbol for bars in base.values() for b in bars})
    for timeframe, bars in base.items():
        for rollup in levels_from(timeframe):
            rows = await fetch_bars(db.pool, symbols, rollup.timeframe, limit=100_000)
            assert_bars_equal(rows, expected_rollup(bars, rollup.timeframe), rollup.relation)
            stored = await materialized_rows(db.pool, rollup.relation)
            expected = expected_rollup(bars, rollup.timeframe, labelled=False)
            assert_bars_equal(stored, expected, rollup.relation)
    assert await pending_ranges(db.pool) == []


async def test_compressed_ranges_still_read_upsert_and_backfill_correctly(
    caggs_db: Database,
) -> None:
    minutes, days = _minutes(1, START, DAY, SYMBOLS), _days(2)
    await _store(caggs_db, minutes, days)
    async with caggs_db.pool.acquire() as conn:
        run = await enforce(conn, Policies(compress_after=timedelta(days=1)), DAY + EIGHT_DAYS)
    assert run is not None and run.chunks_compressed > 0 and run.minute_bars_deleted == 0
    compressed, chunks = await compressed_chunks(caggs_db.pool)
    assert compressed == chunks > 0
    await _assert_reads(caggs_db, {Timeframe.M1: minutes, Timeframe.D1: days})

    # upserts into compressed chunks: corrections, an unchanged re-write, another ticker's backfill
    assert await upsert_bars(caggs_db.pool, Timeframe.M1, minutes[:500], caggs_db.backend) == 0
    corrected = [b._replace(high=b.high * 2, close=b.close + 1) for b in minutes[100:400:7]]
    assert await upsert_bars(caggs_db.pool, Timeframe.M1, corrected, caggs_db.backend) == len(
        corrected
    )
    by_key = {(b.symbol, b.time): b for b in minutes + corrected}
    backfill = _minutes(3, START + timedelta(days=2), DAY - timedelta(days=5), ["MSFT"])
    assert await upsert_bars(caggs_db.pool, Timeframe.M1, backfill, caggs_db.backend) == len(
        backfill
    )
    weekly = [d._replace(volume=d.volume + 10) for d in days[3:9]]
    await upsert_bars(caggs_db.pool, Timeframe.D1, weekly, caggs_db.backend)
    days_now = list({(d.symbol, d.time): d for d in days + weekly}.values())
    await _assert_reads(
        caggs_db, {Timeframe.M1: [*by_key.values(), *backfill], Timeframe.D1: days_now}
    )


async def test_retention_deletes_old_minute_bars_and_keeps_every_rollup(
    caggs_db: Database,
) -> None:
    minutes, days = _minutes(4, START, DAY, SYMBOLS), _days(5)
    await _store(caggs_db, minutes, days)
    now = DAY + timedelta(days=1, hours=2)
    cutoff = retention_cutoff(EIGHT_DAYS, now)
    assert cutoff == DAY - timedelta(days=7)  # aligned to a 4h bucket
    kept = [b for b in minutes if b.time >= cutoff]
    async with caggs_db.pool.acquire() as conn:
        run = await enforce(conn, Policies(retain_minute_bars_for=EIGHT_DAYS), now)
    assert run is not None and run.retained_from == cutoff
    assert run.minute_bars_deleted == len(minutes) - len(kept) > 0
    rows = await fetch_bars(caggs_db.pool, SYMBOLS, Timeframe.M1, limit=100_000)
    assert_bars_equal(rows, expected_rollup(kept, Timeframe.M1))
    rows = await fetch_bars(caggs_db.pool, SYMBOLS, Timeframe.D1, limit=100_000)
    assert_bars_equal(rows, expected_rollup(days, Timeframe.D1))  # daily bars all stay
    await _assert_rollups(caggs_db, {Timeframe.M1: minutes, Timeframe.D1: days})

    # a later backfill across the cutoff stores and rolls up only what lies above it; the
    # buckets below keep what they held (a refresh there would recompute them from nothing)
    late = _minutes(6, START, DAY, ["MSFT"])
    above = [b for b in late if b.time >= cutoff]
    stored = await upsert_bars(caggs_db.pool, Timeframe.M1, late, caggs_db.backend)
    await _assert_rollups(caggs_db, {Timeframe.M1: minutes + above, Timeframe.D1: days})
    assert stored == len(above) < len(late)
    async with caggs_db.pool.acquire() as conn:  # again at the same time: nothing left to do
        again = await enforce(conn, Policies(retain_minute_bars_for=EIGHT_DAYS), now)
        assert again is not None and again.minute_bars_deleted == 0
        # a writer that committed just before the cutoff moved left its range pending: the
        # drain refreshes only above the cutoff
        await conn.execute(
            "INSERT INTO rollup_pending (timeframe, range) VALUES ('1m', tstzrange($1, $2))",
            START,
            DAY,
        )
        await drain_pending(conn, now=now)
    await _assert_rollups(caggs_db, {Timeframe.M1: minutes + above, Timeframe.D1: days})


@pytest.mark.parametrize(
    ("license_", "backend", "supported"),
    [
        ("timescale", RollupBackend.CAGGS, True),
        ("timescale", RollupBackend.PORTABLE, False),  # TIMESCALEDB=off at first migration
        ("apache", RollupBackend.PORTABLE, False),
        (None, RollupBackend.PORTABLE, False),
    ],
)
def test_policies_need_full_timescaledb_and_its_aggregates(
    license_: str | None, backend: RollupBackend, supported: bool
) -> None:
    features = DatabaseFeatures(150000, license_ is not None, license_ is not None, license_)
    assert (unsupported_reason(features, backend) is None) is supported


def test_policy_minimums_on_both_sides() -> None:
    Policies(compress_after=timedelta(days=1), retain_minute_bars_for=EIGHT_DAYS)
    with pytest.raises(ValueError, match="COMPRESS_AFTER"):
        Policies(compress_after=timedelta(hours=23))
    with pytest.raises(ValueError, match="RETAIN_MINUTE_BARS_FOR"):
        Policies(retain_minute_bars_for=EIGHT_DAYS - timedelta(seconds=1))
