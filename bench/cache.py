"""Response cache: a 1-bar GraphQL query with the cache on vs off, against the floor, at 32
concurrent connections, measured side by side on real servers in one run.

(a) floor: the same bar fetched with asyncpg and dumped with orjson by a plain Starlette route;
(b) the 1-bar query with the response cache off (CACHE_TTL_SECONDS=0);
(c) the same query with the cache on (every request after the first is a hit).
Prints requests/s and p50 latency of each; the client runs in the same process as the
servers (one thread each), so figures are for comparison within the run, not absolute.

Run: `.venv/bin/python bench/cache.py [--database-url URL] [--requests N]`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.graphql import load
from gateway.app import create_app
from gateway.settings import Settings
from storage.embedded import EmbeddedPostgres
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
    async with httpx.AsyncClient(base_url=origin, limits=limits, timeout=60) as client:
        for _ in range(CONNECTIONS // 4):  # open the connections a few at a time
            warm = [client.request(method, path, json=body) for _ in range(4)]
            for response in await asyncio.gather(*warm):
                response.raise_for_status()

        async def worker(count: int) -> None:
            for _ in range(count):
                started = time.perf_counter()
                response = await client.request(method, path, json=body)
                response.raise_for_status()
                latencies.append((time.perf_counter() - started) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(worker(total // CONNECTIONS) for _ in range(CONNECTIONS)))
        elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, statistics.median(latencies)


async def run(admin_url: str, total: int) -> None:
    name = f"mg_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = urlunsplit(urlsplit(admin_url)._replace(path="/" + name))
    try:
        await migrate(url, use_timescaledb=False)
        await load(url)

        def app(ttl: float) -> object:
            settings = Settings(  # type: ignore[call-arg]
                _env_file=None, database_url=url, anonymous_reads=True, cache_ttl_seconds=ttl,
                log_level="warning",
            )  # fmt: skip
            built = create_app(settings)

            async def floor(request: Request) -> Response:
                rows = await request.app.state.database.pool.fetch(FLOOR_SQL)
                body = orjson.dumps([dict(r) for r in rows], option=orjson.OPT_UTC_Z)
                return Response(body, media_type="application/json")

            built.router.routes.insert(0, Route("/floor", floor))
            return built

        with ExitStack() as servers:
            uncached = servers.enter_context(serve_in_thread(app(0), lifespan="on"))
            cached = servers.enter_context(serve_in_thread(app(300), lifespan="on"))
            body = {"query": QUERY}
            results = {}
            for _ in range(2):  # two rounds, alternating, to even out machine noise
                for label, origin, method, path, payload in (
                    ("floor", uncached, "GET", "/floor", None),
                    ("uncached", uncached, "POST", "/graphql", body),
                    ("cached", cached, "POST", "/graphql", body),
                ):
                    try:
                        rps, p50 = await hammer(origin, method, path, payload, total)
                    except httpx.HTTPError as exc:
                        raise RuntimeError(f"{label}: {exc!r}") from exc
                    best = results.get(label)
                    if best is None or rps > best[0]:
                        results[label] = (rps, p50)
    finally:
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()
    floor_rps = results["floor"][0]
    print(f"1-bar query, {CONNECTIONS} connections, {total} requests each (best of 2 rounds):")
    for label in ("floor", "uncached", "cached"):
        rps, p50 = results[label]
        print(
            f"  {label:9} {rps:8.0f} r/s   p50 {p50:6.2f} ms   r/s vs floor {rps / floor_rps:.2f}"
        )
    print(f"  cached / uncached r/s: {results['cached'][0] / results['uncached'][0]:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--requests", type=int, default=3200)
    args = parser.parse_args()
    if args.database_url:
        asyncio.run(run(args.database_url, args.requests))
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata", temporary=True)
        try:
            asyncio.run(run(server.admin_url, args.requests))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
