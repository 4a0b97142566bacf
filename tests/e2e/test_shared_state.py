"""Two `marketgraph serve` processes over one database, with and without a shared Redis.

Before issue 13 each worker kept its own limits and Polygon budget: two workers let a key make
twice its requests and spent Polygon's 5 requests a minute twice over.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from domain.access import Scope
from storage import api_keys
from tests.fakes.polygon_server import FakePolygon, make_bars
from tests.support.databases import Database
from tests.support.redis_server import RedisServer
from tests.support.served_process import Served, serve_database

AGGS = "/v2/aggs/ticker/"
DAY0 = datetime(2024, 1, 1, tzinfo=UTC)
BARS = """
query ($ticker: String!, $from: DateTime!, $to: DateTime!) {
  bars(ticker: $ticker, timeframe: D1, from: $from, to: $to, limit: 1000) { time close }
}
"""
WINDOW = {"from": DAY0.isoformat(), "to": (DAY0 + timedelta(days=10)).isoformat()}


@contextlib.contextmanager
def gateways(db: Database, *each: dict[str, str], **common: str) -> Iterator[list[Served]]:
    """One served process per `each` (its own settings), all with `common` settings."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(serve_database(db, **common, **own)) for own in each]


def upstream(fake: FakePolygon, per_minute: str = "0") -> dict[str, str]:
    return {
        "POLYGON_API_KEY": fake.api_key,
        "POLYGON_BASE_URL": fake.url,
        "POLYGON_REQUESTS_PER_MINUTE": per_minute,
    }


async def new_key(db: Database, per_minute: float, *scopes: Scope) -> dict[str, str]:
    _, raw = await api_keys.create_key(
        db.pool, "shared", scopes or (Scope.READ,), rate_limit_per_minute=per_minute
    )
    return {"X-API-Key": raw}


async def statuses(servers: list[Served], key: dict[str, str], count: int) -> list[int]:
    """`count` requests with `key`, taking turns between the servers."""
    async with httpx.AsyncClient(timeout=30, headers=key) as http:
        answers = [
            await http.post(
                f"{servers[i % len(servers)].url}/graphql", json={"query": "{ __typename }"}
            )
            for i in range(count)
        ]
    return [a.status_code for a in answers]


async def bars(url: str, key: dict[str, str], ticker: str) -> Any:
    async with httpx.AsyncClient(timeout=120, headers=key) as http:
        response = await http.post(
            f"{url}/graphql", json={"query": BARS, "variables": {"ticker": ticker, **WINDOW}}
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert not body.get("errors"), body
    return body["data"]["bars"]


async def test_a_key_gets_exactly_its_limit_across_both_processes(
    portable_db: Database, redis_server: RedisServer
) -> None:
    key = await new_key(portable_db, 4)
    with gateways(portable_db, {}, {}, REDIS_URL=redis_server.url) as servers:
        answered = await statuses(servers, key, 10)
    assert answered == [200] * 4 + [429] * 6


async def test_without_redis_each_process_counts_alone(portable_db: Database) -> None:
    """What the README says: per-key limits are per process without Redis."""
    key = await new_key(portable_db, 4)
    with gateways(portable_db, {}, {}) as servers:
        answered = await statuses(servers, key, 10)
    assert answered == [200] * 8 + [429] * 2


@pytest.mark.parametrize("shared", ["redis", "postgresql-only"])
async def test_the_polygon_budget_holds_across_both_processes(
    portable_db: Database, fake_polygon: FakePolygon, redis_server: RedisServer, shared: str
) -> None:
    """5 requests a minute: one every 12 s, whichever process asks (at once, here)."""
    for seed, ticker in enumerate(["X:BTCUSD", "X:ETHUSD"]):
        fake_polygon.add_bars(ticker, make_bars(DAY0, 10, seed=seed))
    key = await new_key(portable_db, 100, Scope.READ, Scope.FETCH)
    redis = {"REDIS_URL": redis_server.url} if shared == "redis" else {}
    with gateways(portable_db, {}, {}, **upstream(fake_polygon, "5"), **redis) as (a, b):
        answers = await asyncio.gather(bars(a.url, key, "X:BTCUSD"), bars(b.url, key, "X:ETHUSD"))

    assert [len(answer) for answer in answers] == [10, 10]
    times = [call.at for call in fake_polygon.calls]
    assert len(times) == 2 and fake_polygon.count(AGGS) == 2
    # each process alone would have sent its first request at once: two at the same moment
    assert times[1] - times[0] >= 11.5, times


async def test_bars_stored_by_one_process_refresh_the_others_cached_answers(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    fake_polygon.add_bars("X:BTCUSD", make_bars(DAY0, 10))
    reader_key = await new_key(portable_db, 1000)
    fetcher_key = await new_key(portable_db, 1000, Scope.READ, Scope.FETCH)
    with gateways(portable_db, upstream(fake_polygon), {}) as (fetcher, reader):
        assert await bars(reader.url, reader_key, "X:BTCUSD") == []  # nothing stored yet
        assert await bars(reader.url, reader_key, "X:BTCUSD") == []
        reader.wait_for_access_lines(2)
        assert [line.get("cache") for line in reader.access_lines()[-2:]] == ["miss", "hit"]

        assert len(await bars(fetcher.url, fetcher_key, "X:BTCUSD")) == 10  # fetched, stored
        seen: list[Any] = []
        for _ in range(100):  # the notification reaches the reader within moments
            seen = await bars(reader.url, reader_key, "X:BTCUSD")
            if seen:
                break
            await asyncio.sleep(0.1)
    assert len(seen) == 10


async def redis_reported(servers: list[Served], want: str, metric: float) -> None:
    """Wait until every server's `/readyz` reports Redis as `want` (it stays 200 either way),
    then check its `marketgraph_redis_up`."""
    async with httpx.AsyncClient(timeout=30) as http:
        for served in servers:
            body: Any = None
            for _ in range(300):
                response = await http.get(f"{served.url}/readyz")
                assert response.status_code == 200, response.text
                body = response.json()
                if body.get("redis") == want:
                    break
                await asyncio.sleep(0.1)
            assert body.get("redis") == want, body
            text = (await http.get(f"{served.url}/metrics")).text
            lines = [line for line in text.splitlines() if line.startswith("marketgraph_redis_up")]
            assert float(lines[0].split()[-1]) == metric


async def three_a_minute(db: Database, servers: list[Served]) -> list[int]:
    """What 8 requests of a new key limited to 3 a minute get, taking turns."""
    return await statuses(servers, await new_key(db, 3), 8)


async def test_redis_stopped_and_restarted_under_load(
    portable_db: Database, redis_server: RedisServer
) -> None:
    load_key = await new_key(portable_db, 1_000_000)
    load: list[int] = []
    with gateways(portable_db, {}, {}, REDIS_URL=redis_server.url) as servers:
        done = asyncio.Event()

        async def keep_asking() -> None:
            async with httpx.AsyncClient(timeout=30, headers=load_key) as http:
                while not done.is_set():
                    for served in servers:
                        answer = await http.post(
                            f"{served.url}/graphql", json={"query": "{ __typename }"}
                        )
                        load.append(answer.status_code)

        loader = asyncio.create_task(keep_asking())
        shared = await three_a_minute(portable_db, servers)
        redis_server.stop()
        await redis_reported(servers, "unreachable", 0)
        alone = await three_a_minute(portable_db, servers)
        redis_server.start()
        await redis_reported(servers, "ok", 1)
        shared_again = await three_a_minute(portable_db, servers)
        done.set()
        await loader

    assert shared == [200] * 3 + [429] * 5
    assert alone == [200] * 6 + [429] * 2  # each process counted on its own meanwhile
    assert shared_again == [200] * 3 + [429] * 5
    assert len(load) > 10 and set(load) == {200}  # no request failed while Redis was away
    for served in servers:
        messages = [str(line.get("message")) for line in served.lines]
        assert sum(m.startswith("Redis unreachable") for m in messages) == 1  # logged once
        assert sum(m.startswith("Redis reachable again") for m in messages) == 1


async def cached(server: Served, key: dict[str, str]) -> tuple[int, Any]:
    """How many X:BTCUSD bars `server` answers, and its access line's `cache` field."""
    before = len(server.access_lines())
    count = len(await bars(server.url, key, "X:BTCUSD"))

    def asked() -> list[dict[str, Any]]:  # not the /readyz or /metrics lines of a poll before
        return [line for line in server.access_lines()[before:] if line.get("path") == "/graphql"]

    server.wait_until(lambda: bool(asked()))
    return count, asked()[0].get("cache")


async def shared_entries(server: Served) -> float:
    async with httpx.AsyncClient(timeout=30) as http:
        text = (await http.get(f"{server.url}/metrics")).text
    (value,) = [
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith("marketgraph_cache_shared_entries")
    ]
    return value


async def test_the_response_cache_is_shared_through_redis_and_outlives_its_outage(
    portable_db: Database, fake_polygon: FakePolygon, redis_server: RedisServer
) -> None:
    fake_polygon.add_bars("X:BTCUSD", make_bars(DAY0, 10))
    reader = await new_key(portable_db, 1000)
    fetcher = await new_key(portable_db, 1000, Scope.READ, Scope.FETCH)
    redis = {"REDIS_URL": redis_server.url}
    with gateways(portable_db, upstream(fake_polygon), {}, **redis) as (a, b):
        assert await cached(a, reader) == (0, "miss")  # nothing stored yet
        assert await cached(b, reader) == (0, "hit")  # cached by the other process
        # other scopes may see other things (here: fetch what is missing): never one entry
        assert await cached(a, fetcher) == (10, "miss")  # fetched and stored through a
        assert await cached(b, reader) == (10, "miss")  # b's entry was invalidated
        assert await cached(a, reader) == (10, "hit")
        # entries made by either process, as each reports them (an invalidated one may linger)
        assert [await shared_entries(server) for server in (a, b)] == [3, 3]

        redis_server.stop()
        during = [await cached(server, reader) for server in (a, b, a, b)]
        redis_server.start()
        await redis_reported([a, b], "ok", 1)
        after = [await cached(server, reader) for server in (b, a)]
    # each process answers from its own cache meanwhile
    assert during == [(10, "miss"), (10, "miss"), (10, "hit"), (10, "hit")]
    assert after == [(10, "miss"), (10, "hit")]  # shared again (the restarted Redis was empty)


async def test_shared_cached_answers_expire_at_the_ttl(
    portable_db: Database, redis_server: RedisServer
) -> None:
    key = await new_key(portable_db, 1000)
    settings = {"REDIS_URL": redis_server.url, "CACHE_TTL_SECONDS": "1"}
    with gateways(portable_db, {}, {}, **settings) as (a, b):
        assert await cached(a, key) == (0, "miss")
        await asyncio.sleep(3)  # generous: the entry lives 1 s
        assert await cached(b, key) == (0, "miss")
