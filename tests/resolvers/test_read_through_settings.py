"""ReadThrough's settings: their defaults, what they refuse, the fetches they let run at once."""

from __future__ import annotations

import asyncio
import contextlib
import re
import threading
from datetime import timedelta

import pytest

from domain.errors import InvalidInput
from resolvers.fetch_budget import FetchLimits
from resolvers.read_through import EnsureResult, ReadThrough
from storage.pool import create_pool
from tests.fakes.polygon_server import FakePolygon, make_bars
from tests.resolvers.test_read_through import (
    AGGS,
    BTC,
    DAY1,
    client_for,
    coverage_rows,
    crypto_minutes,
    read_through,
    utc,
)
from tests.support.databases import Database
from tests.support.time import FakeTime


async def test_by_default_the_last_15_minutes_stay_open_and_are_refetched_after_a_minute(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    """The gateway builds its ReadThrough with the defaults: Polygon's 15-minute delay and a
    60-second freshness TTL for the bars it may still change."""
    crypto_minutes(fake_polygon, utc(2024, 1, 10, 11), 60)  # 11:00 .. 11:59
    time = FakeTime(wall_start=utc(2024, 1, 10, 12))  # on the minute: the cut is 11:45 sharp
    async with read_through(
        portable_db.pool, portable_db.backend, fake_polygon, clock=time.wall
    ) as service:
        hour = (utc(2024, 1, 10, 11), utc(2024, 1, 10, 12))
        assert await service.ensure([BTC], "1m", *hour) == EnsureResult(1, 60, {})
        assert await coverage_rows(portable_db.pool) == [
            (utc(2024, 1, 10), utc(2024, 1, 10, 11, 45), 45, True),
            (utc(2024, 1, 10, 11, 45), utc(2024, 1, 11), 15, False),
        ]
        time.advance(59.5)
        assert await service.ensure([BTC], "1m", *hour) == EnsureResult(0, 0, {})
        time.advance(1)  # 60.5 s after the fetch: the open quarter hour is stale
        assert await service.ensure([BTC], "1m", *hour) == EnsureResult(1, 60, {})


@pytest.mark.parametrize(("freshness_ttl", "upstream_delay"), [(-1, 0), (0, -0.5)])
async def test_a_negative_ttl_or_delay_is_refused(
    portable_db: Database, fake_polygon: FakePolygon, freshness_ttl: float, upstream_delay: float
) -> None:
    with pytest.raises(ValueError, match=r"^freshness_ttl and upstream_delay must be >= 0$"):
        ReadThrough(
            portable_db.pool, portable_db.backend, None,
            freshness_ttl=freshness_ttl, upstream_delay=upstream_delay,
        )  # fmt: skip
    async with read_through(
        portable_db.pool, portable_db.backend, fake_polygon, freshness_ttl=0, upstream_delay=0
    ) as service:
        assert service.enabled


async def test_more_concurrent_fetches_than_the_pool_holds_are_refused(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    """Each fetch holds two connections (its lock and its write): a pool of 4 takes 2 fetches
    at once, not 3; a pool too small matters only when fetches can happen at all."""
    client = client_for(fake_polygon)
    pool = await create_pool(portable_db.url, min_size=1, max_size=4)
    tiny = await create_pool(portable_db.url, min_size=1, max_size=1)
    try:
        message = "3 concurrent fetch(es) need 6 pool connections (a lock and a write each);"
        with pytest.raises(ValueError, match=f"^{re.escape(message)} the pool has 4$"):
            ReadThrough(pool, portable_db.backend, client, max_concurrent_fetches=3)
        with pytest.raises(ValueError, match=r"^-1 concurrent fetch\(es\) need -2 "):
            ReadThrough(pool, portable_db.backend, client, max_concurrent_fetches=-1)
        assert ReadThrough(pool, portable_db.backend, client, max_concurrent_fetches=2).enabled
        keyless = ReadThrough(tiny, portable_db.backend, None)
        assert await keyless.ensure([BTC], "1m", DAY1, utc(2024, 1, 3)) == EnsureResult(0, 0, {})
    finally:
        await client.aclose()
        await pool.close()
        await tiny.close()


@pytest.mark.parametrize(("pool_size", "at_once"), [(4, 1), (5, 2)])
async def test_by_default_fetches_leave_a_connection_of_the_pool_to_readers(
    portable_db: Database, fake_polygon: FakePolygon, pool_size: int, at_once: int
) -> None:
    """Half the pool less one connection, in whole fetches of two connections each: readers
    are never starved of connections by a burst of misses."""
    symbols = ["X:BTCUSD", "X:ETHUSD", "X:SOLUSD"]
    for seed, symbol in enumerate(symbols):
        fake_polygon.add_bars(
            symbol, make_bars(DAY1, 60, timedelta(minutes=1), seed=seed), 1, "minute"
        )
    held = threading.Event()
    fake_polygon.behave(hold=held)
    pool = await create_pool(portable_db.url, min_size=1, max_size=pool_size)
    try:
        async with read_through(
            pool, portable_db.backend, fake_polygon, client_options={"timeout": 120.0}
        ) as service:
            fetching = asyncio.create_task(service.ensure(symbols, "1m", DAY1, utc(2024, 1, 3)))
            try:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(20):
                        while fake_polygon.count(AGGS) < at_once:  # noqa: ASYNC110 (a thread)
                            await asyncio.sleep(0.01)
                await asyncio.sleep(0.5)  # long enough for one more fetch to reach upstream
                assert fake_polygon.count(AGGS) == at_once
            finally:
                held.set()
            assert await fetching == EnsureResult(3, 3 * 60, {})
    finally:
        await pool.close()


async def test_the_fetch_limits_count_only_what_is_missing(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    """A request over ranges already stored asks upstream for nothing, so the limits on symbols
    and span per request do not refuse it, however many symbols or days it covers."""
    symbols = ["X:BTCUSD", "X:ETHUSD"]
    for seed, symbol in enumerate(symbols):
        fake_polygon.add_bars(
            symbol, make_bars(DAY1, 1440, timedelta(minutes=1), seed=seed), 1, "minute"
        )
    day = (DAY1, utc(2024, 1, 3))
    async with read_through(portable_db.pool, portable_db.backend, fake_polygon) as service:
        assert await service.ensure(symbols, "1m", *day) == EnsureResult(2, 2 * 1440, {})
    tight = FetchLimits(max_symbols=1, max_bars_per_symbol=60)
    async with read_through(
        portable_db.pool, portable_db.backend, fake_polygon, limits=tight
    ) as service:
        assert await service.ensure(symbols, "1m", *day) == EnsureResult(0, 0, {})
        hour = (DAY1, utc(2024, 1, 2, 1))
        assert await service.ensure([*symbols, "X:SOLUSD"], "1m", *hour) == EnsureResult(1, 0, {})
        with pytest.raises(InvalidInput, match="at most 1 per request"):
            await service.ensure(["X:ADAUSD", "X:DOGEUSD"], "1m", *hour)
        with pytest.raises(InvalidInput, match=r"^fetching X:ADAUSD would ask upstream for "):
            await service.ensure(["X:ADAUSD"], "1m", DAY1, utc(2024, 1, 2, 2))
    assert len(fake_polygon.calls) == 3


async def test_closing_cancels_fetches_in_flight_and_stores_nothing(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    """At shutdown a fetch still waiting on upstream is cancelled and closing returns
    normally (the gateway closes its Polygon client and pool after it); none of the bars
    that fetch would have brought are stored."""
    crypto_minutes(fake_polygon, DAY1, 60)
    held = threading.Event()
    fake_polygon.behave(hold=held)
    try:
        async with read_through(
            portable_db.pool, portable_db.backend, fake_polygon, client_options={"timeout": 60.0}
        ) as service:
            fetching = asyncio.create_task(service.ensure([BTC], "1m", DAY1, utc(2024, 1, 3)))
            async with asyncio.timeout(20):
                while fake_polygon.count(AGGS) < 1:  # noqa: ASYNC110 (a thread)
                    await asyncio.sleep(0.01)
            await service.aclose()  # raises nothing, though its fetch ends cancelled
            await asyncio.gather(fetching, return_exceptions=True)
    finally:
        held.set()
    stored = await portable_db.pool.fetchval("SELECT count(*) FROM bars WHERE symbol = $1", BTC)
    assert stored == 0
