"""What shared (Redis) rate limits and cached answers cost per request, against local ones.

Run: `.venv/bin/python bench/shared_state.py [--redis-url URL] [--requests N]`. Without a URL
a throwaway redis-server is started on a free port (needs `redis-server` on PATH). Measured in
one run, sequentially (one request's added latency) and with 50 concurrent callers (throughput
of one worker's event loop):
- local: `KeyRateLimiter.check` with its in-process token buckets (no REDIS_URL);
- redis: the same call counted in a moving window in Redis (one script), as with REDIS_URL;
- redis down: the same with Redis stopped (the fallback path after the outage was noticed);
- cache local / cache redis: a response-cache hit (`ResponseCache.answer`) from the worker's own
  entries, and from Redis as with REDIS_URL (two round trips: generation tokens, then the entry).
Keys live under a prefix unique to the run and expire within a minute.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # not bench/ (bench/graphql.py)

from collections.abc import Awaitable, Callable

from strawberry.types import ExecutionResult

from coordination.link import RedisLink
from coordination.responses import SharedResponses
from coordination.windows import SharedWindows
from domain.access import Principal, Scope
from gateway.rate_limit import KeyRateLimiter
from gateway.response_cache import ResponseCache
from tests.support.redis_server import RedisServer

CONCURRENCY = 50
BARS = "query ($t: String!) { bars(ticker: $t, limit: 100) { time close } }"
Call = Callable[[int], Awaitable[object]]


def principal(key_id: int) -> Principal:
    return Principal(key_id=key_id, name="bench", scopes=frozenset(), rate_limit_per_minute=1e6)


async def sequential(call: Call, n: int) -> list[float]:
    """Microseconds per call, one at a time, over 100 keys."""
    times = []
    for i in range(n):
        start = time.perf_counter()
        await call(i % 100)
        times.append((time.perf_counter() - start) * 1e6)
    return times


async def concurrent(call: Call, n: int) -> float:
    """Calls per second with CONCURRENCY callers at once."""

    async def caller(offset: int) -> None:
        for i in range(n // CONCURRENCY):
            await call((offset + i) % 100)

    start = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(CONCURRENCY)))
    return n / (time.perf_counter() - start)


def checks(limiter: KeyRateLimiter) -> Call:
    return lambda key_id: limiter.check(principal(key_id))


async def cache_hits(cache: ResponseCache) -> Call:
    """Hits on 100 cached answers (each 100 bars)."""
    reader = Principal(key_id=1, name="bench", scopes=frozenset({Scope.READ}))
    plans = [cache.plan(BARS, None, {"t": f"T{i}"}, reader) for i in range(100)]
    data = {"bars": [{"time": f"2024-01-01T00:{m:02d}:00Z", "close": 1.5} for m in range(60)]}

    async def run() -> ExecutionResult:
        return ExecutionResult(data=data, errors=None)

    for plan in plans:
        assert plan is not None
        await cache.answer(plan, run)

    async def hit(i: int) -> object:
        plan = plans[i]
        assert plan is not None
        return await cache.answer(plan, run)

    return hit


def report(name: str, times: list[float], rate: float) -> None:
    ordered = sorted(times)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    print(
        f"{name:<11} median {statistics.median(times):8.1f} µs  p99 {p99:8.1f} µs"
        f"  | {CONCURRENCY} concurrent: {rate:9.0f} calls/s"
    )


async def run(url: str, n: int, server: RedisServer | None) -> None:
    local = KeyRateLimiter(1e6)
    link = RedisLink(url, key_prefix=f"bench:{os.getpid()}:")
    shared = KeyRateLimiter(1e6, windows=SharedWindows(link))
    cached = ResponseCache(60, 1000)
    shared_cache = ResponseCache(60, 1000)
    shared_cache.share(SharedResponses(link, 60, 1000, 1_000_000))
    calls = [
        ("local", checks(local)),
        ("redis", checks(shared)),
        ("cache local", await cache_hits(cached)),
        ("cache redis", await cache_hits(shared_cache)),
    ]
    try:
        await sequential(checks(shared), 200)  # warm up: connections, scripts loaded
        for name, call in calls:
            report(name, await sequential(call, n), await concurrent(call, n))
        if server is not None:
            server.stop()
            await shared.check(principal(0))  # notices the outage (once)
            down = checks(shared)
            report("redis down", await sequential(down, n), await concurrent(down, n))
    finally:
        await link.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-url", help="an existing Redis (default: a throwaway server)")
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    if args.redis_url:
        asyncio.run(run(args.redis_url, args.requests, None))
        return
    with tempfile.TemporaryDirectory() as workdir:
        server = RedisServer(Path(workdir))
        server.start()
        try:
            asyncio.run(run(server.url, args.requests, server))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
