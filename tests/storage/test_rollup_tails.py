"""Rollup reads without the tail (`rollup_tails=False`): the same answers on portable rollups,
whose tail is always empty; missing answers on continuous aggregates, whose tail holds the rows
not yet materialized, so the gateway leaves the tail out only where the rollups are portable."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest

from domain.timeframes import ROLLUPS, Timeframe, levels_from
from storage.bars_read import bars_sql, fetch_bars, latest_bars, summary_sql, window_summary
from storage.bars_write import upsert_bars, write_bars
from tests.support.bars import daily_bars, minute_bars
from tests.support.databases import Database

SYMBOLS = ["AAPL", "X:BTCUSD", "ZZZZ"]  # ZZZZ has no bars
DAY = datetime(2024, 3, 8, tzinfo=UTC)  # a Friday, before New York's spring-forward
MINUTES = (DAY + timedelta(hours=13), DAY + timedelta(days=3, hours=22))
DAYS = (date(2023, 11, 20), date(2024, 4, 10))


def _rows(records: list[asyncpg.Record]) -> list[tuple[Any, ...]]:
    return [tuple(record.values()) for record in records]


async def _stored(db: Database, seed: int) -> None:
    rng = random.Random(seed)
    minutes = [b for s in SYMBOLS[:2] for b in minute_bars(rng, s, *MINUTES)]
    days = [b for s in SYMBOLS[:2] for b in daily_bars(rng, s, *DAYS)]
    await upsert_bars(db.pool, Timeframe.M1, minutes, db.backend)
    await upsert_bars(db.pool, Timeframe.D1, days, db.backend)


def _bounds(rng: random.Random, timeframe: Timeframe) -> tuple[datetime | None, datetime | None]:
    lo, hi = (DAY, MINUTES[1]) if timeframe.value.endswith(("m", "h")) else (
        datetime(2023, 11, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC))  # fmt: skip
    start = lo + (hi - lo) * rng.random() if rng.random() < 0.6 else None
    end = lo + (hi - lo) * rng.random() if rng.random() < 0.6 else None
    return start, end


@pytest.mark.parametrize("seed", [1, 2])
async def test_portable_reads_without_the_tail_answer_as_with_it(
    portable_db: Database, seed: int
) -> None:
    await _stored(portable_db, seed)
    rng = random.Random(seed)
    pool = portable_db.pool
    answered = 0
    for rollup in ROLLUPS:
        tf = rollup.timeframe
        for _ in range(12):
            start, end = _bounds(rng, tf)
            shape: dict[str, Any] = {
                "limit": rng.choice([1, 7, 500]),
                "order": rng.choice(["asc", "desc"]),
                "min_quality": rng.choice([None, 0.5]),
                "columns": rng.choice([None, {"close", "volume"}]),
            }
            with_tail = await fetch_bars(pool, SYMBOLS, tf, start, end, **shape)
            without = await fetch_bars(pool, SYMBOLS, tf, start, end, **shape, rollup_tails=False)
            assert _rows(without) == _rows(with_tail), (tf, start, end, shape)
            answered += bool(with_tail)
        latest = await latest_bars(pool, SYMBOLS, tf)
        assert set(latest) == {"AAPL", "X:BTCUSD"}
        untailed = await latest_bars(pool, SYMBOLS, tf, rollup_tails=False)
        assert {s: tuple(r.values()) for s, r in untailed.items()} == {
            s: tuple(r.values()) for s, r in latest.items()
        }
    assert answered >= 40  # the comparisons were of bars, not of empty answers
    windows = [
        (DAY + timedelta(hours=h), DAY + timedelta(hours=h + n), Timeframe.M1)
        for h, n in ((13, 4), (14, 1), (16, 48), (13, 1.5), (20, 0.25))
    ] + [
        (datetime(2024, m, 1, tzinfo=UTC), datetime(2024, m + 1, 1, tzinfo=UTC), Timeframe.D1)
        for m in (1, 2, 3)
    ]
    for start, end, base in windows:
        summed = await window_summary(pool, SYMBOLS, start, end, base=base)
        assert set(summed) == {"AAPL", "X:BTCUSD"} or base is Timeframe.M1
        untailed_sums = await window_summary(pool, SYMBOLS, start, end, base=base,
                                             rollup_tails=False)  # fmt: skip
        assert untailed_sums == summed, (start, end, base)


def test_statements_without_the_tail_name_no_tail() -> None:
    for rollup in ROLLUPS:
        for tails in (True, False):
            texts = [
                bars_sql(rollup.timeframe, "desc", True, False, rollup_tails=tails),
                summary_sql(rollup.timeframe, tails),
            ]
            assert all(("_tail" in text) is tails for text in texts), (rollup, tails)
    # base reads have no tail to leave out: one statement text either way
    assert bars_sql(Timeframe.M1, "asc", True, True, rollup_tails=False) == bars_sql(
        Timeframe.M1, "asc", True, True
    )


async def test_continuous_aggregates_answer_unmaterialized_bars_only_through_the_tail(
    caggs_db: Database,
) -> None:
    bars = minute_bars(random.Random(3), "X:BTCUSD", DAY, DAY + timedelta(hours=9), 0.0)
    async with caggs_db.pool.acquire() as conn:  # committed, not yet materialized
        await write_bars(conn, Timeframe.M1, bars, caggs_db.backend)
    for rollup in levels_from(Timeframe.M1):
        tf = rollup.timeframe
        assert (await latest_bars(caggs_db.pool, ["X:BTCUSD"], tf)).keys() == {"X:BTCUSD"}
        assert await latest_bars(caggs_db.pool, ["X:BTCUSD"], tf, rollup_tails=False) == {}
    day = (DAY, DAY + timedelta(hours=8))
    assert (await window_summary(caggs_db.pool, ["X:BTCUSD"], *day))["X:BTCUSD"].bar_count == 480
    assert await window_summary(caggs_db.pool, ["X:BTCUSD"], *day, rollup_tails=False) == {}
