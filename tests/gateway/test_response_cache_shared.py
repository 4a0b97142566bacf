"""The response cache kept in Redis: two caches (two workers) over one real redis-server."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson

from coordination.link import RedisLink
from coordination.responses import MAX_TAGS, SharedResponses
from domain.access import Principal
from gateway.response_cache import ResponseCache
from tests.gateway.test_response_cache import BARS, FETCHER, OTHER_READER, READER, Runs, ask
from tests.support.redis_server import RedisServer

SEARCH = "{ symbols { ticker } }"


@contextlib.asynccontextmanager
async def workers(
    server: RedisServer,
    count: int = 2,
    *,
    ttl: float = 60,
    max_entries: int = 100,
    max_entry_bytes: int = 100_000,
) -> AsyncIterator[list[ResponseCache]]:
    """`count` caches, each with its own Redis connection, sharing `server`."""
    links = [RedisLink(server.url, key_prefix="rc:") for _ in range(count)]
    caches = []
    for link in links:
        cache = ResponseCache(ttl, max_entries)
        cache.share(SharedResponses(link, ttl, max_entries, max_entry_bytes))
        caches.append(cache)
    try:
        yield caches
    finally:
        for link in links:
            await link.aclose()


async def test_an_answer_cached_by_one_worker_is_a_hit_in_the_other(
    redis_server: RedisServer,
) -> None:
    runs = Runs()
    async with workers(redis_server) as (a, b):
        assert await ask(a, runs) == ({"run": 1}, "miss")
        assert await ask(b, runs) == ({"run": 1}, "hit")
        assert await ask(a, runs) == ({"run": 1}, "hit")
        assert (a.hits, a.misses, b.hits, b.misses) == (1, 1, 1, 0)
        assert len(a) == 0  # kept in Redis, not in the worker


async def test_callers_who_see_different_things_never_share_an_entry(
    redis_server: RedisServer,
) -> None:
    runs = Runs()
    async with workers(redis_server) as (a, b):
        assert await ask(a, runs, principal=READER) == ({"run": 1}, "miss")
        assert await ask(b, runs, principal=FETCHER) == ({"run": 2}, "miss")
        assert await ask(b, runs, principal=None) == ({"run": 3}, "miss")
        # the same scopes see the same data: one entry
        assert await ask(b, runs, principal=OTHER_READER) == ({"run": 1}, "hit")


async def test_invalidating_a_ticker_in_one_worker_drops_its_entries_in_all(
    redis_server: RedisServer,
) -> None:
    runs = Runs()
    async with workers(redis_server) as (a, b):
        for variables in ({"t": "AAPL"}, {"t": "MSFT"}):
            await ask(a, runs, variables=variables)
        await ask(a, runs, SEARCH, principal=READER)  # names no ticker: tagged "*"
        b.invalidate("AAPL")
        await b.settled()
        assert await ask(a, runs, variables={"t": "AAPL"}) == ({"run": 4}, "miss")
        assert await ask(a, runs, SEARCH) == ({"run": 5}, "miss")
        assert await ask(a, runs, variables={"t": "MSFT"}) == ({"run": 2}, "hit")
        b.clear()  # the listener lost notifications: nothing may be trusted
        await b.settled()
        assert await ask(a, runs, variables={"t": "MSFT"}) == ({"run": 6}, "miss")


async def test_an_answer_computed_across_an_invalidation_is_not_kept(
    redis_server: RedisServer,
) -> None:
    async with workers(redis_server) as (a, b):

        async def stale() -> object:
            b.invalidate("AAPL")  # bars stored elsewhere while this answer was computed
            await b.settled()
            return await Runs()()

        plan = a.plan(BARS, None, {"t": "AAPL"}, READER)
        assert plan is not None
        assert (await a.answer(plan, stale))[1] == "miss"  # type: ignore[arg-type]
        assert (await b.answer(plan, Runs()))[1] == "miss"


async def test_the_shared_cache_keeps_at_most_max_entries_dropping_the_least_recently_used(
    redis_server: RedisServer,
) -> None:
    runs = Runs()
    tickers = [{"t": t} for t in ("A", "B", "C", "D")]
    async with workers(redis_server, max_entries=3) as (a, b):
        for variables in tickers[:3]:
            await ask(a, runs, variables=variables)
        for variables in tickers[:3]:  # exactly the limit: all kept
            assert (await ask(b, runs, variables=variables))[1] == "hit"
        assert (await ask(b, runs, variables=tickers[0]))[1] == "hit"  # A used last but one
        await ask(a, runs, variables=tickers[3])  # one over: B, the least recently used, goes
        kept = [(await ask(b, Runs(), variables=v))[1] for v in (tickers[0], *tickers[2:])]
        assert kept == ["hit", "hit", "hit"]
        assert (await ask(b, Runs(), variables=tickers[1]))[1] == "miss"
        assert await SharedResponses(_link(a), 60, 3, 100).count() == 3


async def test_an_answer_larger_than_the_entry_cap_is_not_shared(
    redis_server: RedisServer,
) -> None:
    size = len(orjson.dumps({"data": {"run": 1}, "extensions": None}))
    for cap, other_worker in ((size, "hit"), (size - 1, "miss")):
        runs = Runs()
        async with workers(redis_server, max_entry_bytes=cap) as (a, b):
            await ask(a, runs, variables={"t": f"CAP{cap}"})
            assert (await ask(b, runs, variables={"t": f"CAP{cap}"}))[1] == other_worker


async def test_entries_expire_at_the_ttl(redis_server: RedisServer) -> None:
    runs = Runs()
    async with workers(redis_server, ttl=1) as (a, b):
        await ask(a, runs)
        await asyncio.sleep(3)  # generous: Redis drops the entry after 1 s
        assert await ask(b, runs) == ({"run": 2}, "miss")
    async with workers(redis_server, ttl=60) as (a, b):
        await ask(a, runs, variables={"t": "LONG"})
        await asyncio.sleep(3)
        assert (await ask(b, runs, variables={"t": "LONG"}))[1] == "hit"


async def test_with_redis_stopped_answers_come_from_the_worker_and_redis_is_used_again(
    redis_server: RedisServer,
) -> None:
    runs = Runs()
    async with workers(redis_server) as (a, b):
        redis_server.stop()
        assert await ask(a, runs) == ({"run": 1}, "miss")  # answered all the same
        assert await ask(a, runs) == ({"run": 1}, "hit")  # from the worker's own cache
        a.invalidate("AAPL")
        await a.settled()
        assert await ask(a, runs) == ({"run": 2}, "miss")  # the local entry went
        redis_server.start()
        for cache in (a, b):
            assert await _link(cache).ping()
        assert await ask(a, runs) == ({"run": 3}, "miss")  # Redis again, empty after restart
        assert await ask(b, runs) == ({"run": 3}, "hit")  # shared again
        assert len(a) == 1  # nothing new kept locally


async def test_an_invalidation_redis_missed_makes_every_shared_entry_unreachable(
    redis_server: RedisServer,
) -> None:
    """Redis kept its data but one worker could not reach it while bars were stored."""
    runs = Runs()
    async with workers(redis_server) as (a, b):
        await ask(b, runs, variables={"t": "AAPL"})
        await ask(b, runs, variables={"t": "MSFT"})
        _link(a).failed(TimeoutError())  # a's commands time out meanwhile
        a.invalidate("AAPL")
        await a.settled()
        assert await _link(a).ping()
        assert await ask(b, runs, variables={"t": "AAPL"}) == ({"run": 1}, "hit")  # not yet
        assert await ask(a, runs, variables={"t": "AAPL"}) == ({"run": 3}, "miss")
        assert await ask(b, runs, variables={"t": "MSFT"}) == ({"run": 4}, "miss")


def test_principal_scopes_are_part_of_the_key() -> None:
    cache = ResponseCache(60, 10)
    keys = {
        plan.key
        for principal in (READER, FETCHER, None, Principal(9, "x", READER.scopes))
        if (plan := cache.plan(BARS, None, {"t": "AAPL"}, principal)) is not None
    }
    assert len(keys) == 3


def _link(cache: ResponseCache) -> RedisLink:
    shared = cache._shared
    assert shared is not None
    return shared._link


async def test_an_answer_naming_more_than_max_tags_tickers_stays_in_the_worker(
    redis_server: RedisServer,
) -> None:
    many = "query Many($t: [String!]!) { symbols(tickers: $t) { ticker } }"
    runs = Runs()
    async with workers(redis_server) as (a, b):
        for count, other_worker in ((MAX_TAGS, "hit"), (MAX_TAGS + 1, "miss")):
            tickers = {"t": [f"T{i}" for i in range(count)]}
            await ask(a, runs, many, tickers)
            assert (await ask(b, runs, many, tickers))[1] == other_worker
        assert await ask(a, runs, many, tickers) == ({"run": 2}, "hit")  # a kept it itself
        long_ticker = {"t": ["X" * 5000]}
        await ask(a, runs, many, long_ticker)
        assert (await ask(b, runs, many, long_ticker))[1] == "hit"
        b.invalidate("X" * 5000)
        await b.settled()
        assert (await ask(a, runs, many, long_ticker))[1] == "miss"
