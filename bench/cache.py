"""Response cache: a 1-bar GraphQL query with the cache on vs off, against the floor, at 32
concurrent connections, measured side by side on real servers in one run.

(a) floor: the same bar fetched with asyncpg and dumped with orjson by a plain Starlette route;
(b) the 1-bar query with the response cache off (CACHE_TTL_SECONDS=0);
(c) the same query with the cache on (every request after the first is a hit).
Each round measures the three one after the other (the floor side by side with the paths it
is compared with); the figures are medians over --rounds rounds, each path's r/s also as a ratio
to the floor of its own round, with the lowest and highest round so the spread shows. The
client runs in the same process as the servers (one thread each), so figures are for
comparison within the run, not absolute.

Run: `.venv/bin/python bench/cache.py [--database-url URL] [--requests N] [--rounds R]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path

import httpx
from starlette.applications import Starlette

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.graphql import load
from bench.support import FLOOR_PATH, add_floor, median_and_spread, on_a_server, scratch_database
from gateway.app import create_app
from gateway.settings import Settings
from storage.migrations import migrate
from tests.support.live_server import serve_in_thread

CONNECTIONS = 32
QUERY = '{ bars(ticker: "X:BTCUSD", timeframe: M1, limit: 1) { time open high low close volume } }'
FLOOR_SQL = (
    "SELECT time, open, high, low, close, volume FROM bars"
    " WHERE symbol = 'X:BTCUSD' AND timeframe = '1m' ORDER BY time LIMIT 1"
)


async def hammer(
    origin: str, method: str, path: str, body: object, total: int
) -> tuple[float, float]:
    """(requests per second, p50 ms) for `total` requests over CONNECTIONS connections."""
    limits = httpx.Limits(max_connections=CONNECTIONS, max_keepalive_connections=CONNECTIONS)
    latencies: list[float] = []
    dropped: list[str] = []
    async with httpx.AsyncClient(base_url=origin, limits=limits, timeout=60) as client:
        for _ in range(CONNECTIONS // 4):  # open the connections a few at a time
            warm = [client.request(method, path, json=body) for _ in range(4)]
            for response in await asyncio.gather(*warm):
                response.raise_for_status()

        async def worker(count: int) -> None:
            for _ in range(count):
                started = time.perf_counter()
                try:
                    response = await client.request(method, path, json=body)
                except (httpx.ReadError, httpx.RemoteProtocolError):
                    # a keep-alive connection the server closed as the request left (uvicorn's
                    # 5 s idle timeout on a loaded machine): counted, sent once more
                    dropped.append(path)
                    response = await client.request(method, path, json=body)
                response.raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker(total // CONNECTIONS) for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    if dropped:
        print(f"  ({len(dropped)} requests to {path} resent on a fresh connection)", flush=True)
    return len(latencies) / elapsed, statistics.median(latencies)


def app(url: str, ttl: float) -> Starlette:
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=url, anonymous_reads=True, cache_ttl_seconds=ttl,
        log_level="warning", anonymous_rate_limit_per_minute=0,
    )  # fmt: skip
    return add_floor(create_app(settings), FLOOR_SQL)


async def run(admin_url: str, total: int, rounds: int) -> None:
    async with scratch_database(admin_url) as url:
        await migrate(url, use_timescaledb=False)
        await load(url)
        with ExitStack() as servers:
            uncached = servers.enter_context(serve_in_thread(app(url, 0), lifespan="on"))
            cached = servers.enter_context(serve_in_thread(app(url, 300), lifespan="on"))
            body = {"query": QUERY}
            paths = (
                ("floor", uncached, "GET", FLOOR_PATH, None),
                ("uncached", uncached, "POST", "/graphql", body),
                ("cached", cached, "POST", "/graphql", body),
            )
            results: dict[str, list[tuple[float, float]]] = {label: [] for label, *_ in paths}
            for _ in range(rounds):
                for label, origin, method, path, payload in paths:
                    try:
                        results[label].append(await hammer(origin, method, path, payload, total))
                    except httpx.HTTPError as exc:
                        raise RuntimeError(f"{label}: {exc!r}") from exc
    report(results, total, rounds)


def report(results: dict[str, list[tuple[float, float]]], total: int, rounds: int) -> None:
    floors = [rps for rps, _ in results["floor"]]
    print(f"1-bar query, {CONNECTIONS} connections, {total} requests per path and round,")
    print(f"medians of {rounds} rounds [lowest-highest round]:")
    for label, measured in results.items():
        rps, low, high = median_and_spread([r for r, _ in measured])
        p50 = statistics.median(p for _, p in measured)
        ratio = median_and_spread([r / f for (r, _), f in zip(measured, floors, strict=True)])
        print(
            f"  {label:9} {rps:8.0f} r/s [{low:.0f}-{high:.0f}]   p50 {p50:6.2f} ms"
            f"   r/s vs floor {ratio[0]:.2f} [{ratio[1]:.2f}-{ratio[2]:.2f}]"
        )
    speedup = median_and_spread(
        [c / u for (c, _), (u, _) in zip(results["cached"], results["uncached"], strict=True)]
    )
    print(f"  cached / uncached r/s: {speedup[0]:.2f} [{speedup[1]:.2f}-{speedup[2]:.2f}]")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--requests", type=int, default=3200, help="per path and round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    on_a_server(args.database_url, lambda url: run(url, args.requests, args.rounds))


if __name__ == "__main__":
    main()
