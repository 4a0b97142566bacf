"""Every timeframe equals a recomputation in Python from the base bars, on every backend."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from typing import NamedTuple

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.timeframes import ROLLUPS, Timeframe, base_of, levels_from
from storage.bars_read import fetch_bars
from storage.bars_write import BarIn, upsert_bars
from storage.caggs import watermarks
from storage.features import RollupBackend
from tests.support.bars import assert_bars_equal, daily_bars, expected_rollup, minute_bars
from tests.support.databases import Database, Server, Template, cloned_database

MINUTE_TIMEFRAMES = [
    Timeframe.M1,
    *(r.timeframe for r in ROLLUPS if base_of(r.timeframe) is Timeframe.M1),
]
DAILY_TIMEFRAMES = [Timeframe.D1, Timeframe.W1, Timeframe.MO1]
# Around the 2024 spring-forward (Mar 10) and fall-back (Nov 3) switches in New York, and a weekend.
MINUTE_WINDOWS = [
    (datetime(2024, 3, 8, 13, tzinfo=UTC), datetime(2024, 3, 12, 0, tzinfo=UTC)),
    (datetime(2024, 11, 1, 18, tzinfo=UTC), datetime(2024, 11, 4, 22, tzinfo=UTC)),
]
SYMBOLS = ["AAPL", "BRK.B", "X:BTCUSD"]


def _minute_data(seed: int) -> list[BarIn]:
    rng = random.Random(seed)
    return [
        bar
        for symbol in SYMBOLS
        for start, end in MINUTE_WINDOWS
        for bar in minute_bars(rng, symbol, start, end)
    ]


def _daily_data(seed: int) -> list[BarIn]:
    rng = random.Random(seed)
    return [b for s in SYMBOLS for b in daily_bars(rng, s, date(2023, 12, 20), date(2024, 4, 10))]


async def _check(db: Database, bars: list[BarIn], timeframes: list[Timeframe]) -> None:
    for timeframe in timeframes:
        rows = await fetch_bars(db.pool, SYMBOLS, timeframe, limit=1_000_000)
        assert_bars_equal(rows, expected_rollup(bars, timeframe), timeframe)


@pytest.mark.parametrize("seed", [1, 2])
async def test_minute_rollups_match_python(db: Database, seed: int) -> None:
    bars = _minute_data(seed)
    assert await upsert_bars(db.pool, Timeframe.M1, bars, db.backend) == len(bars)
    await _check(db, bars, MINUTE_TIMEFRAMES)


@pytest.mark.parametrize("seed", [3, 4])
async def test_daily_rollups_match_python(db: Database, seed: int) -> None:
    bars = _daily_data(seed)
    await upsert_bars(db.pool, Timeframe.D1, bars, db.backend)
    await _check(db, bars, DAILY_TIMEFRAMES)


async def test_weekly_and_monthly_bars_are_labelled_by_exchange_day(db: Database) -> None:
    bars = _daily_data(5)
    await upsert_bars(db.pool, Timeframe.D1, bars, db.backend)
    month = await fetch_bars(db.pool, ["AAPL", "X:BTCUSD"], "1mo", limit=100)
    labels = {(r["symbol"], r["time"]) for r in month}
    assert ("AAPL", datetime(2024, 2, 1, 5, tzinfo=UTC)) in labels  # New York midnight (EST)
    assert ("AAPL", datetime(2024, 4, 1, 4, tzinfo=UTC)) in labels  # ... and in EDT
    assert ("X:BTCUSD", datetime(2024, 2, 1, tzinfo=UTC)) in labels  # crypto days are UTC
    week = await fetch_bars(db.pool, ["AAPL"], "1w", limit=100)
    assert all(r["time"].astimezone(UTC).weekday() == 0 for r in week)  # weeks start Monday


async def test_backfill_far_below_the_watermark_shows_in_every_timeframe(db: Database) -> None:
    rng = random.Random(7)
    recent = minute_bars(
        rng, "X:BTCUSD", datetime(2024, 6, 3, tzinfo=UTC), datetime(2024, 6, 4, tzinfo=UTC)
    )
    await upsert_bars(db.pool, Timeframe.M1, recent, db.backend)
    if db.backend is RollupBackend.CAGGS:  # as a refresh policy would: materialize, so the
        for rollup in levels_from(Timeframe.M1):  # watermark moves past the recent bars
            await db.pool.execute(
                "CALL refresh_continuous_aggregate($1::regclass, NULL, $2::timestamptz)",
                rollup.relation,
                datetime(2024, 6, 5, tzinfo=UTC),
            )
        async with db.pool.acquire() as conn:  # the backfill below lands under the watermark
            watermark = (await watermarks(conn))["bars_4h"]
            assert watermark is not None and watermark > datetime(2024, 6, 3, tzinfo=UTC)
    old_start = datetime(2021, 1, 4, 14, tzinfo=UTC)
    old = minute_bars(rng, "X:BTCUSD", old_start, old_start + timedelta(hours=9))
    await upsert_bars(db.pool, Timeframe.M1, old, db.backend)
    for timeframe in MINUTE_TIMEFRAMES:
        rows = await fetch_bars(db.pool, ["X:BTCUSD"], timeframe, limit=1_000_000)
        assert_bars_equal(rows, expected_rollup(old + recent, timeframe))


async def test_corrected_bar_updates_its_buckets(db: Database) -> None:
    bars = _minute_data(8)
    await upsert_bars(db.pool, Timeframe.M1, bars, db.backend)
    index = len(bars) // 2
    corrected = bars[index]._replace(high=bars[index].high * 2, volume=bars[index].volume + 1000)
    assert await upsert_bars(db.pool, Timeframe.M1, [corrected], db.backend) == 1
    bars[index] = corrected
    await _check(db, bars, MINUTE_TIMEFRAMES)


async def test_reingesting_the_same_bars_changes_nothing(db: Database) -> None:
    bars = _daily_data(9)
    await upsert_bars(db.pool, Timeframe.D1, bars, db.backend)
    before = await db.pool.fetch("SELECT symbol, time, xmin::text FROM bars ORDER BY 1, 2")
    assert await upsert_bars(db.pool, Timeframe.D1, bars, db.backend) == 0
    after = await db.pool.fetch("SELECT symbol, time, xmin::text FROM bars ORDER BY 1, 2")
    assert before == after  # same row versions: nothing was rewritten
    await _check(db, bars, DAILY_TIMEFRAMES)


INCREMENTAL_SYMBOLS = ("AAPL", "X:BTCUSD")


def _base_bars(seed: int, base: Timeframe) -> list[BarIn]:
    rng = random.Random(seed)
    if base is Timeframe.M1:  # a Friday's session, crypto on into the Saturday
        start = datetime(2024, 3, 8, 13, tzinfo=UTC)
        end = start + timedelta(hours=9)
        return [b for s in INCREMENTAL_SYMBOLS for b in minute_bars(rng, s, start, end)]
    first, last = date(2024, 1, 2), date(2024, 3, 29)
    return [b for s in INCREMENTAL_SYMBOLS for b in daily_bars(rng, s, first, last)]


class Plan(NamedTuple):
    """How to send one seed's base bars: cut at `cuts`, the pieces sent in `order`, then one
    write per round of corrections (bar index -> price factor). Small, so a failure reads."""

    seed: int
    cuts: list[int]
    order: list[int]
    corrections: list[dict[int, float]]

    def writes(self, bars: list[BarIn]) -> tuple[list[list[BarIn]], list[BarIn]]:
        """The writes in order, and the bars the store must hold after the last one."""
        edges = [0, *self.cuts, len(bars)]
        pieces = [bars[a:b] for a, b in pairwise(edges)]
        writes = [pieces[i] for i in self.order]
        final = list(bars)
        for fixes in self.corrections:
            for index, factor in fixes.items():
                final[index] = _corrected(final[index], factor)
            writes.append([final[index] for index in sorted(fixes)])
        return writes, final


def _corrected(bar: BarIn, factor: float) -> BarIn:
    """`bar` with every price scaled and the volume changed, as a provider's correction."""
    return bar._replace(
        open=bar.open * factor, high=bar.high * factor * 1.01, low=bar.low * factor * 0.99,
        close=bar.close * factor, volume=bar.volume + 7,
    )  # fmt: skip


@st.composite
def plans(draw: st.DrawFn, base: Timeframe) -> Plan:
    """Writes sent in random order, so buckets receive bars (earlier or later ones) after they
    already hold some; then corrections, a bar possibly corrected again in a later round."""
    seed = draw(st.integers(0, 2**16))
    size = len(_base_bars(seed, base))
    cuts = sorted(draw(st.sets(st.integers(1, size - 1), min_size=1, max_size=5)))
    order = draw(st.permutations(range(len(cuts) + 1)))
    rounds = st.dictionaries(
        st.integers(0, size - 1), st.sampled_from([0.9, 1.1]), min_size=1, max_size=12
    )
    return Plan(seed, cuts, order, draw(st.lists(rounds, min_size=1, max_size=3)))


@pytest.fixture(params=list(RollupBackend), ids=lambda b: b.value)
def rollup_backend(
    request: pytest.FixtureRequest, templates: dict[RollupBackend, Template]
) -> RollupBackend:
    """A backend the server offers; the others skip, saying why (no database: the property
    clones one per example)."""
    backend: RollupBackend = request.param
    if reason := templates[backend].skip_reason:
        pytest.skip(reason)
    return backend


@pytest.mark.parametrize(
    ("base", "timeframes"),
    [(Timeframe.M1, MINUTE_TIMEFRAMES), (Timeframe.D1, DAILY_TIMEFRAMES)],
    ids=["minutes", "days"],
)
# rollup_backend is a constant per test; every example gets a fresh database of its own.
@settings(max_examples=8, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_incremental_writes_in_any_order_give_the_recomputed_rollups(
    server: Server,
    templates: dict[RollupBackend, Template],
    rollup_backend: RollupBackend,
    base: Timeframe,
    timeframes: list[Timeframe],
    data: st.DataObject,
) -> None:
    plan = data.draw(plans(base), label="plan")
    writes, final = plan.writes(_base_bars(plan.seed, base))
    async with cloned_database(server, templates, rollup_backend) as db:
        for write in writes:
            assert await upsert_bars(db.pool, base, write, db.backend) == len(write)
        for timeframe in timeframes:
            rows = await fetch_bars(db.pool, INCREMENTAL_SYMBOLS, timeframe, limit=1_000_000)
            assert_bars_equal(rows, expected_rollup(final, timeframe), timeframe)


async def test_one_write_of_two_symbols_in_adjacent_buckets_updates_both(db: Database) -> None:
    rng = random.Random(21)
    start = datetime(2024, 3, 8, 14, 30, tzinfo=UTC)  # AAPL's 5m bucket ends where BTC's starts
    bars = [
        *minute_bars(rng, "AAPL", start, start + timedelta(minutes=5), gap_chance=0),
        *minute_bars(rng, "X:BTCUSD", start + timedelta(minutes=5), start + timedelta(minutes=10)),
    ]
    await upsert_bars(db.pool, Timeframe.M1, bars, db.backend)
    for timeframe in MINUTE_TIMEFRAMES:
        rows = await fetch_bars(db.pool, ["AAPL", "X:BTCUSD"], timeframe, limit=100)
        assert_bars_equal(rows, expected_rollup(bars, timeframe), timeframe)


async def test_a_write_rewrites_only_the_rollup_rows_of_the_buckets_it_touches(
    portable_db: Database,
) -> None:
    """Two corrections days apart recompute their own buckets, not the days between them."""
    rng = random.Random(22)
    bars = minute_bars(
        rng, "X:BTCUSD", datetime(2024, 3, 8, tzinfo=UTC), datetime(2024, 3, 11, tzinfo=UTC)
    )
    await upsert_bars(portable_db.pool, Timeframe.M1, bars, portable_db.backend)
    between = (datetime(2024, 3, 9, tzinfo=UTC), datetime(2024, 3, 10, tzinfo=UTC))
    relations = [r.relation for r in levels_from(Timeframe.M1)]

    async def versions() -> dict[str, list[tuple[datetime, str]]]:
        return {
            relation: [
                (r["time"], r["xmin"])
                for r in await portable_db.pool.fetch(
                    f"SELECT time, xmin::text FROM {relation}"
                    " WHERE time >= $1 AND time < $2 ORDER BY time",
                    *between,
                )
            ]
            for relation in relations
        }

    before = await versions()
    assert all(before.values())
    fixes = [_corrected(bars[0], 1.1), _corrected(bars[-1], 0.9)]  # Mar 8 00:00, Mar 10 23:59
    assert await upsert_bars(portable_db.pool, Timeframe.M1, fixes, portable_db.backend) == 2
    assert await versions() == before
    for timeframe in MINUTE_TIMEFRAMES:
        rows = await fetch_bars(portable_db.pool, ["X:BTCUSD"], timeframe, limit=100_000)
        assert_bars_equal(rows, expected_rollup([*fixes, *bars[1:-1]], timeframe), timeframe)
