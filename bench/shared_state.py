"""What a shared (Redis) rate limit costs per request, against the local token bucket.

Run: `.venv/bin/python bench/shared_state.py [--redis-url URL] [--requests N]`. Without a URL
a throwaway redis-server is started on a free port (needs `redis-server` on PATH). Measured in
one run, sequentially (one request's added latency) and with 50 concurrent callers (throughput
of one worker's event loop):
- local: `KeyRateLimiter.check` with its in-process token buckets (no REDIS_URL);
- redis: the same call counted in a moving window in Redis (`limits`), as with REDIS_URL;
- redis down: the same with Redis stopped (the fallback path after the outage was noticed).
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from coordination.link import RedisLink
from coordination.windows import SharedWindows
from domain.access import Principal
from gateway.rate_limit import KeyRateLimiter
from tests.support.redis_server import RedisServer

CONCURRENCY = 50


def principal(key_id: int) -> Principal:
    return Principal(key_id=key_id, name="bench", scopes=frozenset(), rate_limit_per_minute=1e6)


async def sequential(limiter: KeyRateLimiter, n: int) -> list[float]:
    """Microseconds per check, one at a time, over 100 keys."""
    times = []
    for i in range(n):
        start = time.perf_counter()
        await limiter.check(principal(i % 100))
        times.append((time.perf_counter() - start) * 1e6)
    return times


async def concurrent(limiter: KeyRateLimiter, n: int) -> float:
    """Checks per second with CONCURRENCY callers at once."""

    async def caller(offset: int) -> None:
        for i in range(n // CONCURRENCY):
            await limiter.check(principal((offset + i) % 100))

    start = time.perf_counter()
    await asyncio.gather(*(caller(c) for c in range(CONCURRENCY)))
    return n / (time.perf_counter() - start)


def report(name: str, times: list[float], rate: float) -> None:
    ordered = sorted(times)
    p99 = ordered[int(len(ordered) * 0.99) - 1]
    print(
        f"{name:<11} median {statistics.median(times):8.1f} µs  p99 {p99:8.1f} µs"
        f"  | {CONCURRENCY} concurrent: {rate:9.0f} checks/s"
    )


async def run(url: str, n: int, server: RedisServer | None) -> None:
    local = KeyRateLimiter(1e6)
    link = RedisLink(url, key_prefix=f"bench:{os.getpid()}:")
    shared = KeyRateLimiter(1e6, windows=SharedWindows(link))
    try:
        await sequential(shared, 200)  # warm up: connections, scripts loaded
        report("local", await sequential(local, n), await concurrent(local, n))
        report("redis", await sequential(shared, n), await concurrent(shared, n))
        if server is not None:
            server.stop()
            await shared.check(principal(0))  # notices the outage (once)
            report("redis down", await sequential(shared, n), await concurrent(shared, n))
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
