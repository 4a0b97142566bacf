"""Reads of the newest bars from a learnt horizon answer exactly as unbounded reads, and on
TimescaleDB plan only the chunks after the horizon (storage/newest_bars.py)."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.timeframes import Timeframe
from storage.bar_chunks import WEEK, bars_chunk_interval
from storage.bars_read import bars_sql, fetch_bars
from storage.bars_write import BarIn, upsert_bars
from storage.newest_bars import NewestBarTimes, newest_bars
from tests.support.databases import Database
from tests.support.graphql import CountingPool
from tests.support.plans import bar_chunks, root_plan

M1, D1 = Timeframe.M1, Timeframe.D1
T0 = datetime(2024, 1, 4, tzinfo=UTC)  # a Thursday: TimescaleDB's 7-day chunks start on one
STEP = {M1: timedelta(minutes=30), D1: timedelta(days=1)}
SYMBOLS = ["X:AUSD", "X:BUSD", "X:CUSD", "X:DUSD"]


def _bars(symbol: str, start: datetime, count: int, step: timedelta) -> list[BarIn]:
    return [BarIn(symbol, start + i * step, 10, 11, 9, 10.5, 100, 10.2, 5,
                  quality_score=0.4 if i % 3 == 0 else 1.0)
            for i in range(count)]  # fmt: skip


def _rows(rows: list[Any]) -> list[tuple[Any, ...]]:
    return [tuple(row) for row in rows]


def test_a_horizon_falls_on_a_chunk_boundary_far_enough_back_for_the_limit() -> None:
    seen = NewestBarTimes()
    newest = datetime(2024, 5, 20, 15, 31, tzinfo=UTC)
    seen.saw(["A"], M1, [{"symbol": "A", "time": newest}])
    for limit, reach in ((1, timedelta(minutes=10)), (5000, timedelta(days=34, hours=17))):
        horizon = seen.horizon(["A"], M1, limit)
        assert horizon is not None
        assert horizon.weekday() == 3 and horizon.time().isoformat() == "00:00:00"  # Thursday
        assert newest - reach - WEEK < horizon <= newest - reach
    assert seen.horizon(["A"], D1, 1) is None  # another timeframe: not seen
    assert seen.horizon(["A"], M1, 10_000_000) is None  # reaching back past 1970


def test_a_horizon_serves_every_symbol_asked_and_forgets_what_has_no_bars() -> None:
    seen = NewestBarTimes()
    seen.saw(["A", "B"], D1, [{"symbol": "A", "time": T0}, {"symbol": "B", "time": T0 + WEEK * 3}])
    assert seen.horizon(["B"], D1, 1) == T0 + WEEK * 2
    assert seen.horizon(["A", "B"], D1, 1) == T0 - WEEK  # the older symbol's
    assert seen.horizon(["A", "C"], D1, 1) is None  # C never seen: no guess for it
    seen.saw(["A"], D1, [])  # A's bars are gone
    assert seen.horizon(["A"], D1, 1) is None


def test_what_is_remembered_is_bounded() -> None:
    seen = NewestBarTimes(kept=2)
    for symbol in "ABC":
        seen.saw([symbol], M1, [{"symbol": symbol, "time": T0}])
    assert seen.horizon(["A"], M1, 1) is None  # the least recently used went first
    assert seen.horizon(["B", "C"], M1, 1) is not None


async def test_newest_bars_answer_as_an_unbounded_read_whatever_was_written(
    db: Database,
) -> None:
    """Random reads (some before an end, as a chart paging back; some with symbols never seen
    read apart) between writes of newer bars, backfills of older ones and deletions: each
    answer equals `fetch_bars` without a horizon, whether the horizon held every symbol's bars
    or some had to be read again."""
    pool = db.pool
    # A: dense; B: a year earlier; C: three bars weeks apart; D: none at first
    stored = {
        M1: [*_bars("X:AUSD", T0, 2000, STEP[M1]),
             *_bars("X:BUSD", T0 - timedelta(days=365), 100, STEP[M1]),
             *_bars("X:CUSD", T0, 3, timedelta(days=20))],
        D1: [*_bars("X:AUSD", T0 - timedelta(days=700), 700, STEP[D1]),
             *_bars("X:CUSD", T0, 3, timedelta(days=20))],
    }  # fmt: skip
    for tf, bars in stored.items():
        await upsert_bars(pool, tf, bars, db.backend)
    rng = random.Random(7)
    seen = NewestBarTimes()
    counts: Counter[str] = Counter()
    for _ in range(200):
        tf, symbol = rng.choice((M1, D1)), rng.choice(SYMBOLS)
        op = rng.choice(("read",) * 4 + ("newer", "older", "delete newest", "delete all"))
        if op == "read":
            symbols = rng.sample(SYMBOLS, rng.randint(1, 4))
            limit, min_quality = rng.choice((1, 1, 2, 40, 400)), rng.choice((None, None, 0.5))
            end = rng.choice((None, None, None, T0 + timedelta(days=rng.randint(-800, 60))))
            horizon = seen.horizon(symbols, tf, limit, end)
            apart = rng.random() < 0.5
            known = seen.known(symbols, tf)
            got = await newest_bars(
                pool, symbols, tf, limit, seen, end=end, min_quality=min_quality,
                chunk=WEEK if apart else None,
            )  # fmt: skip
            want = await fetch_bars(
                pool, symbols, tf, None, end, limit=limit, order="desc", min_quality=min_quality
            )
            assert _rows(got) == _rows(want), (symbols, tf, limit, min_quality, end, horizon)
            if horizon is not None:
                counts["from a horizon" if end is None else "before an end"] += 1
                counts["read again"] += any(row["time"] < horizon for row in want)
            elif apart and end is None and 0 < len(known) < len(symbols):
                counts["unseen apart"] += 1
            continue
        newest = await pool.fetchval(
            "SELECT max(time) FROM bars WHERE symbol = $1 AND timeframe = $2", symbol, tf.value
        )
        if op in ("newer", "older"):
            count = rng.choice((1, 5, 300))
            if op == "newer":
                start = (newest or T0) + STEP[tf] * rng.choice((1, 500))
            else:
                start = T0 - timedelta(days=800) - STEP[tf] * count
            await upsert_bars(pool, tf, _bars(symbol, start, count, STEP[tf]), db.backend)
        elif op == "delete newest" and newest is not None:
            await pool.execute(
                "DELETE FROM bars WHERE symbol = $1 AND timeframe = $2 AND time > $3",
                symbol, tf.value, newest - STEP[tf] * rng.choice((1, 50)),
            )  # fmt: skip
        elif op == "delete all":
            await pool.execute(
                "DELETE FROM bars WHERE symbol = $1 AND timeframe = $2", symbol, tf.value
            )
    # the sequence put both ways to work: answers from the horizon, and symbols read again
    assert counts["from a horizon"] >= 15 and counts["before an end"] >= 10, counts
    assert counts["read again"] >= 3 and counts["unseen apart"] >= 5, counts


async def test_a_symbol_read_again_keeps_its_place_among_the_others(db: Database) -> None:
    sparse = _bars("X:CUSD", T0 - timedelta(days=90), 3, timedelta(days=30))  # 3 bars in all
    dense = _bars("X:AUSD", T0 - timedelta(days=90), 91, STEP[D1])
    await upsert_bars(db.pool, D1, [*sparse, *dense], db.backend)
    seen, symbols = NewestBarTimes(), ["X:CUSD", "X:AUSD"]
    await newest_bars(db.pool, symbols, D1, 20, seen)  # learns both
    counted = CountingPool(db.pool)
    rows = await newest_bars(counted, symbols, D1, 20, seen)  # type: ignore[arg-type]
    assert len(counted.statements) == 2  # from the horizon, then X:CUSD again without it
    assert [row["symbol"] for row in rows] == ["X:CUSD"] * 3 + ["X:AUSD"] * 20
    assert _rows(rows) == _rows(await fetch_bars(db.pool, symbols, D1, limit=20, order="desc"))


async def test_symbols_never_seen_are_read_apart_from_those_with_a_horizon(db: Database) -> None:
    """A watch list with a ticker that has no bars: the others keep their horizon, and each
    symbol keeps its place in the answer."""
    await upsert_bars(db.pool, D1, [*_bars("X:AUSD", T0, 30, STEP[D1]),
                                    *_bars("X:CUSD", T0, 40, STEP[D1])], db.backend)  # fmt: skip
    seen, known = NewestBarTimes(), ["X:AUSD", "X:CUSD"]
    await newest_bars(db.pool, known, D1, 2, seen)  # learns both
    symbols = ["X:AUSD", "X:ZUSD", "X:CUSD"]  # X:ZUSD has no bars
    for apart in (False, True):
        counted = CountingPool(db.pool)
        chunk = WEEK if apart else None
        rows = await newest_bars(counted, symbols, D1, 2, seen, chunk=chunk)  # type: ignore[arg-type]
        assert _rows(rows) == _rows(await fetch_bars(db.pool, symbols, D1, limit=2, order="desc"))
        assert [row["symbol"] for row in rows] == ["X:AUSD"] * 2 + ["X:CUSD"] * 2
        assert [("r.time >= '" in sql, "$1::text AS" in sql) for sql in counted.statements] == (
            [(True, False), (False, True)] if apart else [(False, False)]
        )  # the two known from their horizon, then the unseen one alone; or all unbounded
    assert seen.known(symbols, D1) == known  # a symbol without bars stays unseen


async def test_a_second_read_of_the_newest_bar_plans_only_recent_chunks(db: Database) -> None:
    if await bars_chunk_interval(db.pool) is None:
        pytest.skip("bars is a plain table here (no TimescaleDB): it has no chunks to leave out")
    daily = _bars("X:AUSD", T0 - timedelta(days=420), 421, STEP[D1])  # 60 weeks: 61 chunks
    await upsert_bars(db.pool, D1, daily, db.backend)
    counted = CountingPool(db.pool)
    seen = NewestBarTimes()
    for _ in range(2):
        rows = await newest_bars(counted, ["X:AUSD"], D1, 1, seen)  # type: ignore[arg-type]
        assert [row["time"] for row in rows] == [T0]
    first, second = counted.statements
    assert first == bars_sql(D1, "desc", False, False, one_symbol=True)
    async with db.pool.acquire() as conn:
        planned = []
        for sql in (first, second):
            raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", "X:AUSD", 1)
            planned.append(bar_chunks(root_plan(raw)))
    assert planned[0] >= 60 and planned[1] <= 2, planned


async def test_a_cached_plan_with_a_horizon_sees_chunks_made_after_it(db: Database) -> None:
    """The horizon is a literal, so PostgreSQL may keep a generic plan of the statement; a bar
    written later into a new chunk must still be the answer."""
    await upsert_bars(db.pool, D1, _bars("X:AUSD", T0, 3, STEP[D1]), db.backend)
    sql = bars_sql(D1, "desc", False, False, one_symbol=True, since=T0)
    async with db.pool.acquire() as conn:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        try:
            for _ in range(8):
                assert [r["time"] for r in await conn.fetch(sql, "X:AUSD", 1)] == [
                    T0 + 2 * STEP[D1]
                ]
            later = T0 + timedelta(days=30)  # weeks past any chunk the plan knew
            await upsert_bars(db.pool, D1, _bars("X:AUSD", later, 1, STEP[D1]), db.backend)
            assert [r["time"] for r in await conn.fetch(sql, "X:AUSD", 1)] == [later]
        finally:
            await conn.execute("RESET plan_cache_mode")


def test_a_horizon_must_be_an_aware_datetime() -> None:
    with pytest.raises(ValueError, match="aware datetime"):
        bars_sql(M1, "desc", False, False, since=datetime(2024, 1, 1))
