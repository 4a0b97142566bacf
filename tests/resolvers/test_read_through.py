"""Fetch-on-miss against the fake Polygon: coverage, single-flight, failures, quality, rollups."""

from __future__ import annotations

import asyncio
import os
import random
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from domain.errors import (
    InvalidInput,
    UpstreamConfigError,
    UpstreamRateLimited,
    UpstreamUnavailable,
)
from domain.timeframes import Timeframe
from resolvers.backfill import backfill
from resolvers.read_through import EnsureResult, ReadThrough
from storage.bars_read import fetch_bars
from storage.bars_write import BarIn, upsert_bars
from storage.features import RollupBackend
from storage.pool import create_pool
from storage.quality import assess_series
from tests.fakes.polygon_server import FakePolygon, RawBar, make_bars
from tests.support.bars import assert_bars_equal, expected_rollup
from tests.support.databases import Database
from tests.support.time import FakeTime
from upstream.polygon import PolygonClient

AGGS = "/v2/aggs/ticker/"
BTC = "X:BTCUSD"
NY = ZoneInfo("America/New_York")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
LATER = datetime(2025, 6, 1, tzinfo=UTC)  # "now" for tests about the past
REPO = Path(__file__).resolve().parents[2]


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


DAY1 = utc(2024, 1, 2)
BEFORE_LISTING = (utc(2023, 6, 1), utc(2023, 7, 1))  # upstream has no bars: an empty fetch


def client_for(fake: FakePolygon, **overrides: Any) -> PolygonClient:
    options: dict[str, Any] = {
        "base_url": fake.url,
        "requests_per_minute": 0,
        "timeout": 5.0,
        "max_retries": 0,
        "backoff_base": 0.001,
        "max_retry_wait": 0.01,
        "rng": random.Random(7),
    }
    options.update(overrides)
    return PolygonClient(options.pop("api_key", fake.api_key), **options)


@asynccontextmanager
async def read_through(
    pool: asyncpg.Pool,
    backend: RollupBackend,
    fake: FakePolygon,
    client_options: dict[str, Any] | None = None,
    **options: Any,
) -> AsyncIterator[ReadThrough]:
    client = client_for(fake, **(client_options or {}))
    options.setdefault("clock", FakeTime(wall_start=LATER).wall)
    service = ReadThrough(pool, backend, client, **options)
    try:
        yield service
    finally:
        await service.aclose()
        await client.aclose()


def ms(t: datetime) -> int:
    return int((t - EPOCH).total_seconds() * 1000)


def crypto_minutes(
    fake: FakePolygon, start: datetime, count: int, step: timedelta = timedelta(minutes=1)
) -> list[RawBar]:
    raw = make_bars(start, count, step, seed=count)
    fake.add_bars(BTC, raw, 1, "minute")
    return raw


def stock_days(
    fake: FakePolygon, ticker: str, first: date, last: date, holidays: frozenset[date] = frozenset()
) -> list[RawBar]:
    """Daily bars at New York midnight on weekdays that are not holidays, as Polygon has them."""
    days = [first + timedelta(days=i) for i in range((last - first).days + 1)]
    days = [d for d in days if d.weekday() < 5 and d not in holidays]
    raw = make_bars(DAY1, len(days), seed=len(days))
    for bar, day in zip(raw, days, strict=True):
        bar["t"] = ms(datetime(day.year, day.month, day.day, tzinfo=NY))
    fake.add_bars(ticker, raw, 1, "day")
    return raw


def as_bars(symbol: str, raw: list[RawBar]) -> list[BarIn]:
    return [
        BarIn(symbol, EPOCH + timedelta(milliseconds=b["t"]), b["o"], b["h"], b["l"], b["c"],
              float(b["v"]), b.get("vw"), b.get("n"))
        for b in raw
    ]  # fmt: skip


def agg_paths(fake: FakePolygon) -> list[str]:
    return [call.path for call in fake.calls if call.path.startswith(AGGS)]


async def stored(pool: asyncpg.Pool, symbol: str, timeframe: str) -> list[asyncpg.Record]:
    return await fetch_bars(pool, [symbol], timeframe, limit=1_000_000)


async def coverage_rows(pool: asyncpg.Pool) -> list[tuple[Any, ...]]:
    """(start, end, bar count, complete) of each coverage row, in order."""
    rows = await pool.fetch(
        "SELECT lower(range) AS s, upper(range) AS e, bar_count, complete FROM coverage"
        " ORDER BY lower(range)"
    )
    return [tuple(r) for r in rows]


async def snapshot(pool: asyncpg.Pool) -> list[list[tuple[Any, ...]]]:
    """Everything a fetch could change: base bars, a rollup, coverage."""
    queries = (
        "SELECT * FROM bars ORDER BY symbol, timeframe, time",
        "SELECT * FROM bars_1h ORDER BY symbol, time",
        "SELECT * FROM coverage ORDER BY symbol, timeframe, range",
        "SELECT * FROM rollup_pending",
    )
    return [[tuple(r) for r in await pool.fetch(q)] for q in queries]


# -- single flight and coverage --------------------------------------------------------------


async def test_twenty_identical_concurrent_misses_make_one_upstream_call(
    db: Database, fake_polygon: FakePolygon
) -> None:
    raw = crypto_minutes(fake_polygon, DAY1, 2 * 1440)
    fake_polygon.behave(delay=0.2)
    end = DAY1 + timedelta(days=2)
    async with read_through(db.pool, db.backend, fake_polygon) as service:
        results = await asyncio.gather(*(service.ensure([BTC], "1m", DAY1, end) for _ in range(20)))
        assert agg_paths(fake_polygon) == [f"{AGGS}{BTC}/range/1/minute/2024-01-02/2024-01-03"]
        assert results == [EnsureResult(1, 2 * 1440, {})] * 20  # every caller waited for it
        expected = expected_rollup(as_bars(BTC, raw), Timeframe.M1)
        assert_bars_equal(await stored(db.pool, BTC, "1m"), expected)

        assert await service.ensure([BTC], "1m", DAY1, end) == EnsureResult(0, 0, {})
        assert len(agg_paths(fake_polygon)) == 1


async def test_an_overlapping_range_fetches_only_the_hole(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    raw = crypto_minutes(fake_polygon, DAY1, 4 * 144, step=timedelta(minutes=10))
    async with read_through(portable_db.pool, portable_db.backend, fake_polygon) as service:
        await service.ensure([BTC], "1m", DAY1, utc(2024, 1, 4))
        second = await service.ensure([BTC], "5m", utc(2024, 1, 3, 12), utc(2024, 1, 6))
        assert await service.ensure([BTC], "1h", DAY1, utc(2024, 1, 6)) == EnsureResult(0, 0, {})
    assert [p.rsplit("/", 2)[1:] for p in agg_paths(fake_polygon)] == [
        ["2024-01-02", "2024-01-03"],
        ["2024-01-04", "2024-01-05"],
    ]
    assert second == EnsureResult(1, 2 * 144, {})
    assert len(await stored(portable_db.pool, BTC, "1m")) == len(raw) == 4 * 144


async def test_a_request_that_waited_for_an_overlapping_fetch_then_fetches_the_rest(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    """Whether the wider request finds the first fetch still in flight (and waits for it) or
    already landed, it returns with its whole range stored, each day fetched once."""
    raw = crypto_minutes(fake_polygon, DAY1, 2 * 1440)
    fake_polygon.behave(delay=1.0, slow_times=1)  # the first fetch stays in flight a while
    async with read_through(portable_db.pool, portable_db.backend, fake_polygon) as service:
        first = asyncio.create_task(service.ensure([BTC], "1m", DAY1, utc(2024, 1, 3)))
        while not agg_paths(fake_polygon):  # noqa: ASYNC110 (the fake serves from its own thread)
            await asyncio.sleep(0.01)
        wider = await service.ensure([BTC], "1m", DAY1, utc(2024, 1, 4))
        expected = expected_rollup(as_bars(BTC, raw), Timeframe.M1)
        assert_bars_equal(await stored(portable_db.pool, BTC, "1m"), expected)
        assert await first == EnsureResult(1, 1440, {}) and wider.errors == {}
    assert [p.rsplit("/", 2)[1:] for p in agg_paths(fake_polygon)] == [
        ["2024-01-02", "2024-01-02"],
        ["2024-01-03", "2024-01-03"],
    ]


async def test_holes_apart_are_fetched_as_separate_windows_and_all_counted(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    crypto_minutes(fake_polygon, DAY1, 3 * 1440)
    async with read_through(portable_db.pool, portable_db.backend, fake_polygon) as service:
        await service.ensure([BTC], "1m", utc(2024, 1, 3), utc(2024, 1, 4))
        both_sides = await service.ensure([BTC], "1m", DAY1, utc(2024, 1, 5))
    assert both_sides == EnsureResult(2, 2 * 1440, {})
    assert len(await stored(portable_db.pool, BTC, "1m")) == 3 * 1440


async def test_bars_upstream_sends_past_the_window_are_not_stored(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    raw = crypto_minutes(fake_polygon, DAY1 - timedelta(minutes=1), 1440 + 2)  # one each side
    fake_polygon.behave(ignore_range=True)  # serve them all, whatever was asked for
    async with read_through(portable_db.pool, portable_db.backend, fake_polygon) as service:
        assert await service.ensure([BTC], "1m", DAY1, utc(2024, 1, 3)) == EnsureResult(1, 1440, {})
    expected = expected_rollup(as_bars(BTC, raw[1:-1]), Timeframe.M1)
    assert_bars_equal(await stored(portable_db.pool, BTC, "1m"), expected)


async def test_weekends_holidays_and_unlisted_periods_are_covered_and_not_refetched(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    holidays = frozenset({date(2024, 1, 1), date(2024, 1, 15)})  # New Year's Day, MLK Day
    raw = stock_days(fake_polygon, "AAPL", date(2024, 1, 1), date(2024, 1, 21), holidays)
    async with read_through(portable_db.pool, portable_db.backend, fake_polygon) as service:
        first = await service.ensure(["AAPL"], "1d", utc(2024, 1, 1), utc(2024, 1, 22))
        assert first == EnsureResult(1, len(raw), {}) and len(raw) == 13
        for start, end in [
            (utc(2024, 1, 13), utc(2024, 1, 15)),  # a weekend
            (utc(2024, 1, 15), utc(2024, 1, 16)),  # a holiday
            (utc(2024, 1, 1, 12), utc(2024, 1, 2)),  # New Year's Day
        ]:
            assert await service.ensure(["AAPL"], "1d", start, end) == EnsureResult(0, 0, {})
        assert await service.ensure(["AAPL"], "1d", *BEFORE_LISTING) == EnsureResult(1, 0, {})
        assert await service.ensure(["AAPL"], "1d", *BEFORE_LISTING) == EnsureResult(0, 0, {})
    assert len(agg_paths(fake_polygon)) == 2
    empty = await portable_db.pool.fetchval(
        "SELECT bar_count FROM coverage WHERE range @> $1::timestamptz", utc(2023, 6, 15)
    )
    assert empty == 0


async def test_a_fetch_failing_on_page_3_of_5_keeps_its_pages_covers_nothing_and_fails_waiters(
    db: Database, fake_polygon: FakePolygon
) -> None:
    """Pages are stored as they come (memory holds one page); coverage waits for the last."""
    crypto_minutes(fake_polygon, DAY1 - timedelta(days=1), 100)
    raw = crypto_minutes(fake_polygon, DAY1, 500)
    async with read_through(db.pool, db.backend, fake_polygon) as service:
        await service.ensure([BTC], "1m", DAY1 - timedelta(days=1), DAY1)
        before = await snapshot(db.pool)
        fake_polygon.reset()
        fake_polygon.behave(page_size=100, fail_from_page=3, delay=0.1)

        results = await asyncio.gather(
            *(service.ensure([BTC], "1h", DAY1, DAY1 + timedelta(days=1)) for _ in range(5))
        )

        errors = [result.errors[BTC] for result in results]
        assert isinstance(errors[0], UpstreamUnavailable)
        assert all(error is errors[0] for error in errors)  # one fetch, one error, shared
        assert len(agg_paths(fake_polygon)) == 3  # pages 1, 2 and the failing 3, once
        _, _, covered, pending = await snapshot(db.pool)
        assert [covered, pending] == before[2:]  # nothing more is claimed covered
        kept = await fetch_bars(db.pool, [BTC], "1m", DAY1, DAY1 + timedelta(days=1), limit=999)
        assert [r["time"] for r in kept] == [b.time for b in as_bars(BTC, raw[:200])]  # pages 1-2

        fake_polygon.reset()
        fake_polygon.behave(page_size=100)
        assert await service.ensure([BTC], "1h", DAY1, DAY1 + timedelta(days=1)) == EnsureResult(
            1, 500, {}
        )
    assert_bars_equal(
        await fetch_bars(db.pool, [BTC], "1h", DAY1, limit=100),
        expected_rollup(as_bars(BTC, raw), Timeframe.H1),
    )


async def test_one_symbols_failure_leaves_the_others_served(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    raw = crypto_minutes(fake_polygon, DAY1, 150)  # two pages of 100: the second fails
    small = stock_days(fake_polygon, "MSFT", date(2024, 1, 2), date(2024, 1, 5))
    fake_polygon.behave(page_size=100, fail_from_page=2)
    async with read_through(portable_db.pool, portable_db.backend, fake_polygon) as service:
        minute = await service.ensure([BTC], "1m", DAY1, utc(2024, 1, 3))
        daily = await service.ensure(["MSFT", BTC], "1d", DAY1, utc(2024, 1, 6))
    assert list(minute.errors) == [BTC] and isinstance(minute.errors[BTC], UpstreamUnavailable)
    assert daily.errors == {} and daily.bars_stored == len(small)
    kept = await stored(portable_db.pool, BTC, "1m")
    assert [r["time"] for r in kept] == [b.time for b in as_bars(BTC, raw[:100])]  # page 1
    assert await portable_db.pool.fetch("SELECT * FROM coverage WHERE timeframe = '1m'") == []


# -- what gets stored ---------------------------------------------------------------------------


async def test_fetched_bars_equal_upstream_at_the_base_timeframe_and_in_every_rollup(
    db: Database, fake_polygon: FakePolygon
) -> None:
    start = utc(2024, 1, 5, 20)  # Friday evening over a weekend: crypto trades on
    minutes = crypto_minutes(fake_polygon, start, 3 * 1440)
    holidays = frozenset({date(2024, 1, 1), date(2024, 1, 15), date(2024, 2, 19)})
    days = stock_days(fake_polygon, "AAPL", date(2023, 12, 20), date(2024, 3, 10), holidays)
    async with read_through(db.pool, db.backend, fake_polygon) as service:
        assert not (await service.ensure([BTC], "4h", start, start + timedelta(days=3))).errors
        assert not (await service.ensure(["AAPL"], "1mo", utc(2023, 12, 1), utc(2024, 4, 1))).errors
    for timeframe in (Timeframe.M1, Timeframe.M15, Timeframe.H1, Timeframe.H4):
        expected = expected_rollup(as_bars(BTC, minutes), timeframe)
        assert_bars_equal(await stored(db.pool, BTC, timeframe), expected, timeframe)
    for timeframe in (Timeframe.D1, Timeframe.W1, Timeframe.MO1):
        expected = expected_rollup(as_bars("AAPL", days), timeframe)
        assert_bars_equal(await stored(db.pool, "AAPL", timeframe), expected, timeframe)


@pytest.mark.parametrize("later_first", [True, False], ids=["later-first", "in-order"])
async def test_quality_flags_are_stored_whatever_order_ranges_arrive_in(
    portable_db: Database, fake_polygon: FakePolygon, later_first: bool
) -> None:
    raw = stock_days(fake_polygon, "AAPL", date(2024, 1, 2), date(2024, 3, 29))
    times = [EPOCH + timedelta(milliseconds=b["t"]) for b in raw]
    monday = times.index(datetime(2024, 3, 4, tzinfo=NY))
    raw[monday].update(o=raw[monday - 1]["c"] * 1.25, h=raw[monday - 1]["c"] * 1.3)  # a gap
    raw[monday + 1]["v"] = 1e9  # a volume spike
    fake_polygon.add_bars("AAPL", raw, 1, "day")
    async with read_through(portable_db.pool, portable_db.backend, fake_polygon) as service:
        ranges = [(utc(2024, 1, 1), utc(2024, 3, 3)), (utc(2024, 3, 3, 12), utc(2024, 4, 1))]
        for start, end in reversed(ranges) if later_first else ranges:
            await service.ensure(["AAPL"], "1d", start, end)
    rows = await portable_db.pool.fetch(
        "SELECT gap_detected, volume_anomaly, quality_score, validation_notes FROM bars"
        " WHERE symbol = 'AAPL' ORDER BY time"
    )
    expected = assess_series(as_bars("AAPL", raw))
    assert [(r["gap_detected"], r["volume_anomaly"], r["validation_notes"]) for r in rows] == [
        (q.gap_detected, q.volume_anomaly, q.validation_notes) for q in expected
    ]
    assert [r["quality_score"] for r in rows] == pytest.approx([q.quality_score for q in expected])
    assert rows[monday]["gap_detected"] and rows[monday + 1]["volume_anomaly"]


async def test_a_range_holding_one_bar_is_fetched_and_stored(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    raw = stock_days(fake_polygon, "AAPL", date(2024, 1, 2), date(2024, 1, 5))
    async with read_through(portable_db.pool, portable_db.backend, fake_polygon) as service:
        assert await service.ensure(["AAPL"], "1d", DAY1, utc(2024, 1, 3)) == EnsureResult(1, 1, {})
    expected = expected_rollup(as_bars("AAPL", raw[:1]), Timeframe.D1)
    assert_bars_equal(await stored(portable_db.pool, "AAPL", "1d"), expected)


async def test_rejudging_stored_neighbours_keeps_their_values_and_source(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    """Fetching a range re-judges the stored bars after it (quality flags depend on what
    precedes them) and writes them back with everything else they hold untouched."""
    raw = stock_days(fake_polygon, "AAPL", date(2024, 1, 2), date(2024, 3, 29))
    march = [b for b in as_bars("AAPL", raw) if b.time >= utc(2024, 3, 1)]
    mine = [b._replace(source="demo", vwap=b.close, trades=(b.trades or 0) + 1) for b in march]
    await upsert_bars(portable_db.pool, Timeframe.D1, mine, portable_db.backend)
    async with read_through(portable_db.pool, portable_db.backend, fake_polygon) as service:
        assert not (await service.ensure(["AAPL"], "1d", utc(2024, 1, 1), utc(2024, 3, 1))).errors
    rows = await fetch_bars(portable_db.pool, ["AAPL"], "1d", utc(2024, 3, 1), limit=100)
    assert [(r["time"], r["vwap"], r["trades"], r["source"]) for r in rows] == [
        (b.time, b.vwap, b.trades, "demo") for b in mine
    ]


async def test_the_stored_callback_hears_of_fetches_that_stored_bars_only(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    """`on_stored` drops cached answers (gateway/app.py): called when bars of a symbol were
    stored, not for a fetch that found nothing (a weekend, a date before the listing)."""
    stock_days(fake_polygon, "AAPL", date(2024, 1, 2), date(2024, 1, 12))
    told: list[str] = []
    async with read_through(
        portable_db.pool, portable_db.backend, fake_polygon, on_stored=told.append
    ) as service:
        assert await service.ensure(["AAPL"], "1d", *BEFORE_LISTING) == EnsureResult(1, 0, {})
        assert told == []
        assert (await service.ensure(["AAPL"], "1d", DAY1, utc(2024, 1, 13))).bars_stored == 9
        assert told == ["AAPL"]


async def test_the_open_period_is_refetched_after_the_freshness_ttl(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    today = utc(2024, 1, 10)
    crypto_minutes(fake_polygon, today - timedelta(days=1), 1440 + 720)  # up to 11:59 today
    time = FakeTime(wall_start=utc(2024, 1, 10, 12, 0, 30))
    async with read_through(
        portable_db.pool, portable_db.backend, fake_polygon,
        clock=time.wall, freshness_ttl=60, upstream_delay=0,
    ) as service:  # fmt: skip
        wanted = (utc(2024, 1, 10, 11), utc(2024, 1, 10, 13))
        assert await service.ensure([BTC], "1m", *wanted) == EnsureResult(1, 720, {})
        time.advance(30)
        assert await service.ensure([BTC], "1m", *wanted) == EnsureResult(0, 0, {})

        fake_polygon.add_bars(BTC, [{**make_bars(utc(2024, 1, 10, 12), 1)[0]}], 1, "minute")
        time.advance(31)  # 61 s after the fetch
        assert await service.ensure([BTC], "1m", *wanted) == EnsureResult(1, 721, {})
        new = await fetch_bars(portable_db.pool, [BTC], "1m", utc(2024, 1, 10, 12), limit=10)
        assert [r["time"] for r in new] == [utc(2024, 1, 10, 12)]

        time.advance(3600)  # finished periods stay covered, yesterday's and this morning's
        yesterday = (today - timedelta(days=1), utc(2024, 1, 10, 11))
        assert (await service.ensure([BTC], "1m", *yesterday)).fetched_ranges == 1
        assert await service.ensure([BTC], "1m", *yesterday) == EnsureResult(0, 0, {})
        future = (utc(2024, 1, 11), utc(2024, 1, 12))
        assert await service.ensure([BTC], "1m", *future) == EnsureResult(0, 0, {})
    assert len(agg_paths(fake_polygon)) == 3


@pytest.mark.parametrize(("delay_minutes", "refetched"), [(15, 1), (0, 0)])
async def test_bars_within_the_upstream_delay_stay_open_and_are_refetched(
    portable_db: Database, fake_polygon: FakePolygon, delay_minutes: int, refetched: int
) -> None:
    """Polygon may still change the last `upstream_delay` of bars: those periods are fetched
    again once the freshness TTL passes; with no delay, a finished hour never is."""
    crypto_minutes(fake_polygon, utc(2024, 1, 10, 11), 60)  # 11:00 .. 11:59
    time = FakeTime(wall_start=utc(2024, 1, 10, 12, 0, 30))
    async with read_through(
        portable_db.pool, portable_db.backend, fake_polygon,
        clock=time.wall, freshness_ttl=60, upstream_delay=delay_minutes * 60,
    ) as service:  # fmt: skip
        finished_hour = (utc(2024, 1, 10, 11), utc(2024, 1, 10, 12))
        assert (await service.ensure([BTC], "1m", *finished_hour)).fetched_ranges == 1
        time.advance(61)
        again = await service.ensure([BTC], "1m", *finished_hour)
    assert again.fetched_ranges == refetched
    assert len(agg_paths(fake_polygon)) == 1 + refetched


# -- across workers -----------------------------------------------------------------------------


async def test_two_workers_racing_on_the_same_miss_make_one_upstream_call(
    db: Database, fake_polygon: FakePolygon
) -> None:
    crypto_minutes(fake_polygon, DAY1, 1440)
    fake_polygon.behave(delay=0.5)
    other_pool = await create_pool(db.url, min_size=1, max_size=4)
    try:
        async with (
            read_through(db.pool, db.backend, fake_polygon) as one,
            read_through(other_pool, db.backend, fake_polygon) as two,
        ):
            results = await asyncio.gather(
                one.ensure([BTC], "1h", DAY1, utc(2024, 1, 3)),
                two.ensure([BTC], "1h", DAY1, utc(2024, 1, 3)),
            )
    finally:
        await other_pool.close()
    assert len(agg_paths(fake_polygon)) == 1
    assert sorted(r.fetched_ranges for r in results) == [0, 1]
    assert len(await stored(db.pool, BTC, "1m")) == 1440


WORKER = """
import asyncio, os, sys
from datetime import datetime
from storage.features import RollupBackend
from upstream.polygon import PolygonClient
from storage.pool import create_pool
from resolvers.read_through import ReadThrough

async def main(url, backend, polygon_url, start, end):
    pool = await create_pool(url, min_size=1, max_size=3)
    key = os.environ["MG_TEST_POLYGON_KEY"]
    async with PolygonClient(key, base_url=polygon_url, requests_per_minute=0) as client:
        service = ReadThrough(pool, RollupBackend(backend), client)
        result = await service.ensure(
            ["X:BTCUSD"], "1m", datetime.fromisoformat(start), datetime.fromisoformat(end)
        )
    await pool.close()
    print(result.fetched_ranges, sorted(result.errors))

asyncio.run(main(*sys.argv[1:]))
"""


async def test_worker_processes_racing_on_the_same_miss_make_one_upstream_call(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    crypto_minutes(fake_polygon, DAY1, 1440)
    fake_polygon.behave(delay=3.0)
    args = [portable_db.url, portable_db.backend.value, fake_polygon.url]
    env = {**os.environ, "MG_TEST_POLYGON_KEY": fake_polygon.api_key}
    workers = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-c", WORKER, *args, DAY1.isoformat(), utc(2024, 1, 3).isoformat(),
            cwd=REPO, env=env, stdout=asyncio.subprocess.PIPE,
        )
        for _ in range(3)
    ]  # fmt: skip
    most_waiting = 0
    while any(w.returncode is None for w in workers):
        waiting = await portable_db.pool.fetchval(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        )
        most_waiting = max(most_waiting, waiting)
        await asyncio.sleep(0.05)
    outputs = sorted([(await w.communicate())[0].decode().strip() for w in workers])
    assert [w.returncode for w in workers] == [0, 0, 0]
    assert outputs == ["0 []", "0 []", "1 []"]
    assert len(agg_paths(fake_polygon)) == 1
    assert most_waiting >= 1  # they really did race: some waited on the lock
    assert len(await stored(portable_db.pool, BTC, "1m")) == 1440


# -- configuration and errors -------------------------------------------------------------------


async def test_without_an_api_key_fetch_on_miss_is_off(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    crypto_minutes(fake_polygon, DAY1, 60)
    service = ReadThrough(portable_db.pool, portable_db.backend, None)
    assert not service.enabled
    assert await service.ensure([BTC], "1m", DAY1, utc(2024, 1, 3)) == EnsureResult(0, 0, {})
    assert fake_polygon.calls == []


async def test_rejected_credentials_are_a_config_error_for_each_symbol(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    fake_polygon.behave(unauthorized=True)
    async with read_through(portable_db.pool, portable_db.backend, fake_polygon) as service:
        assert service.enabled
        result = await service.ensure(["AAPL", BTC], "1d", DAY1, utc(2024, 1, 9))
    assert set(result.errors) == {"AAPL", BTC}
    assert all(isinstance(e, UpstreamConfigError) for e in result.errors.values())
    assert fake_polygon.api_key not in " ".join(str(e) for e in result.errors.values())
    assert await portable_db.pool.fetchval("SELECT count(*) FROM coverage") == 0


async def test_persistent_429s_are_reported_as_rate_limited(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    fake_polygon.behave(rate_limit=10, retry_after="7")
    async with read_through(
        portable_db.pool, portable_db.backend, fake_polygon, client_options={"max_retries": 1}
    ) as service:
        result = await service.ensure([BTC], "1m", DAY1, utc(2024, 1, 3))
    error = result.errors[BTC]
    assert isinstance(error, UpstreamRateLimited) and error.retry_after == 7.0


@pytest.mark.parametrize(
    ("symbols", "timeframe", "start", "end"),
    [
        ([], "1m", DAY1, utc(2024, 1, 3)),
        (["aapl"], "1m", DAY1, utc(2024, 1, 3)),
        (["AAPL"], "2m", DAY1, utc(2024, 1, 3)),
        (["AAPL"], "1m", datetime(2024, 1, 2), utc(2024, 1, 3)),
        (["AAPL"], "1m", utc(2024, 1, 3), DAY1),
    ],
)
async def test_bad_arguments_raise_invalid_input(
    portable_db: Database,
    fake_polygon: FakePolygon,
    symbols: list[str],
    timeframe: str,
    start: datetime,
    end: datetime,
) -> None:
    async with read_through(portable_db.pool, portable_db.backend, fake_polygon) as service:
        with pytest.raises(InvalidInput):
            await service.ensure(symbols, timeframe, start, end)
    assert fake_polygon.calls == []


# -- backfill ----------------------------------------------------------------


async def test_backfill_goes_month_by_month_reports_progress_and_resumes(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    raw = crypto_minutes(fake_polygon, utc(2024, 1, 20), 24 * 50, step=timedelta(hours=1))
    progress: list[tuple[str, int, int]] = []
    span = (utc(2024, 1, 20), utc(2024, 3, 10))
    async with read_through(portable_db.pool, portable_db.backend, fake_polygon) as service:
        report = await backfill(
            service, [BTC], "1m", *span, on_progress=lambda *p: progress.append(p)
        )
        again = await backfill(service, [BTC], "1m", *span)
    assert progress == [(BTC, 0, 3), (BTC, 1, 3), (BTC, 2, 3), (BTC, 3, 3)]
    assert (report.chunks, report.fetched_ranges, report.bars_stored) == (3, 3, len(raw))
    assert report.succeeded == (BTC,) and report.errors == {}
    assert [p.rsplit("/", 2)[1:] for p in agg_paths(fake_polygon)] == [
        ["2024-01-20", "2024-01-31"],
        ["2024-02-01", "2024-02-29"],
        ["2024-03-01", "2024-03-09"],
    ]
    assert (again.chunks, again.fetched_ranges) == (3, 0)


async def test_backfill_without_a_key_says_so(portable_db: Database) -> None:
    service = ReadThrough(portable_db.pool, portable_db.backend, None)
    with pytest.raises(UpstreamConfigError, match="POLYGON_API_KEY"):
        await backfill(service, [BTC], "1d", DAY1, utc(2024, 2, 1))


# -- what a fetch reports and records -------------------------------------------------------------


async def test_coverage_counts_the_bar_at_the_cut_as_open(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    """The bar starting exactly at `now - upstream_delay` may still change upstream: it is
    counted in the open (TTL-bound) coverage row, the bars before it in the complete one."""
    crypto_minutes(fake_polygon, utc(2024, 1, 10, 11), 61)  # 11:00 .. 12:00, the cut
    time = FakeTime(wall_start=utc(2024, 1, 10, 12, 0, 30))
    async with read_through(
        portable_db.pool, portable_db.backend, fake_polygon,
        clock=time.wall, upstream_delay=0,
    ) as service:  # fmt: skip
        wanted = (utc(2024, 1, 10, 11), utc(2024, 1, 10, 13))
        assert await service.ensure([BTC], "1m", *wanted) == EnsureResult(1, 61, {})
    assert await coverage_rows(portable_db.pool) == [
        (utc(2024, 1, 10), utc(2024, 1, 10, 12), 60, True),
        (utc(2024, 1, 10, 12), utc(2024, 1, 11), 1, False),
    ]


async def test_the_stored_callback_hears_of_bars_stored_by_an_earlier_page(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    """A last page holding nothing to store (bars past the window, dropped) does not hide
    the bars the pages before it stored: cached answers lacking them are dropped all the same."""
    crypto_minutes(fake_polygon, DAY1, 100)
    crypto_minutes(fake_polygon, utc(2024, 1, 4), 100)  # outside the window asked for
    fake_polygon.behave(page_size=100, ignore_range=True)
    told: list[str] = []
    async with read_through(
        portable_db.pool, portable_db.backend, fake_polygon, on_stored=told.append
    ) as service:
        assert await service.ensure([BTC], "1m", DAY1, utc(2024, 1, 3)) == EnsureResult(1, 100, {})
    assert len(agg_paths(fake_polygon)) == 2  # both pages were fetched
    assert told == [BTC]


async def test_bars_the_store_refuses_fail_the_symbol_with_the_reason(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    """A 1m bar off the minute is upstream nonsense: the symbol fails as upstream unavailable,
    the log detail says which bar and why, and nothing is stored or claimed covered."""
    off = {"t": ms(utc(2024, 1, 2, 0, 0, 30)), "o": 1, "h": 1, "l": 1, "c": 1, "v": 1}
    fake_polygon.behave(raw_results=[off])
    async with read_through(portable_db.pool, portable_db.backend, fake_polygon) as service:
        result = await service.ensure([BTC], "1m", DAY1, utc(2024, 1, 3))
    error = result.errors[BTC]
    assert isinstance(error, UpstreamUnavailable)
    assert str(error) == (
        "Polygon sent bars the store refuses: 1m bar time 2024-01-02T00:00:30+00:00"
        " is not on a minute"
    )
    assert await stored(portable_db.pool, BTC, "1m") == []
    assert await portable_db.pool.fetch("SELECT * FROM coverage") == []


async def test_a_request_that_waited_for_a_fetch_does_not_refetch_its_stale_open_part(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    """With no freshness TTL the open part a fetch records is stale at once; a request that
    waited for that fetch still takes its bars as fetched (one upstream call for both)."""
    crypto_minutes(fake_polygon, LATER - timedelta(hours=1), 60)  # the last hour before now
    fake_polygon.behave(delay=0.2)
    async with read_through(
        portable_db.pool, portable_db.backend, fake_polygon, freshness_ttl=0
    ) as service:
        wanted = (LATER - timedelta(hours=1), LATER)
        results = await asyncio.gather(*(service.ensure([BTC], "1m", *wanted) for _ in range(2)))
    assert results == [EnsureResult(1, 60, {})] * 2
    assert len(agg_paths(fake_polygon)) == 1
