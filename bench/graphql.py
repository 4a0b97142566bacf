"""GraphQL speed against its floor: bulk bars, and small requests under load.

`--case bulk`, on one real server in this process:
(a) floor: the same bars fetched with asyncpg and dumped with orjson by a plain Starlette route;
(b) marketgraph's GraphQL query for 10,000 bars of one symbol (fast path);
(c) the same query on stock Strawberry execution (`build_schema(fast_path=False)`);
(d) the same bars as `barSeries` (one array per field);
Targets: (b) <= 2x (a), (c)/(b) >= 10. Then 50 symbols x (latestBar + aggregate) vs 1
symbol (bench/many_symbols.py: each request alone, timed by `wrk` from outside the server),
beside a plain route running the same two statements, whose ratio bounds what any GraphQL
layer can reach.

`--case small` (bench/small.py): one 1-bar query at 32 connections with `wrk`, against a floor
(Starlette + asyncpg + orjson), the floor's handler inside marketgraph's app (its middleware:
the most any GraphQL layer there can reach), marketgraph anonymous, with a key, via an APQ
hash, and stock Strawberry, each in its own uvicorn process: requests/s, p50, p99, RSS, ratios
to the floor.

`--case instructions` (bench/instructions.py): the small case's targets counted in
instructions per request under valgrind's callgrind, which machine noise does not move; not in
`all` (valgrind).

Run: `.venv/bin/python bench/graphql.py [--case small|bulk|all|instructions] [--database-url
URL] [--repeats N] [--seconds S] [--rounds R] [--requests N]` (embedded PostgreSQL when no URL
is given). The small and bulk cases need `wrk` (`apt-get install wrk`), instructions
`valgrind`.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

# this file is named graphql.py: its folder must not shadow the graphql package
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.instructions import count_instructions, report_instructions
from bench.many_symbols import TICKERS, report_many, run_many
from bench.small import report, run_small
from domain.access import Scope
from gateway.app import create_app
from gateway.graphiql import find_assets_dir
from gateway.graphql_view import make_graphql_app
from gateway.settings import Settings
from schema import build_schema
from storage.api_keys import create_key
from storage.bars_write import BarIn, upsert_bars
from storage.demo import load_demo
from storage.embedded import EmbeddedPostgres
from storage.features import RollupBackend
from storage.migrations import migrate
from storage.pool import create_pool
from tests.support.live_server import serve_in_thread

BARS = 10_000
FIELDS = "time open high low close volume"
BULK = f'{{ bars(ticker: "X:BTCUSD", timeframe: M1, limit: {BARS}) {{ {FIELDS} }} }}'
SERIES = BULK.replace("bars(", "barSeries(")
FLOOR_SQL = (
    f"SELECT {', '.join(FIELDS.split())} FROM bars"
    " WHERE symbol = 'X:BTCUSD' AND timeframe = '1m' ORDER BY time LIMIT $1"
)


async def load(url: str) -> tuple[list[str], str]:
    """Demo data (X:BTCUSD has 11,520 minute bars) plus 50 synthetic symbols with a day each;
    the tickers of those, and a new read key."""
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        await load_demo(pool, RollupBackend.PORTABLE)
        _, key = await create_key(pool, "bench", (Scope.READ,))
        tickers = list(TICKERS)
        start = datetime(2024, 12, 30, tzinfo=UTC)
        bars = [
            BarIn(t, start + timedelta(minutes=m), 10 + m % 7, 11 + m % 7, 9, 10.5, 100, 10.2, 5)
            for t in tickers
            for m in range(1440)
        ]  # fmt: skip
        await upsert_bars(pool, "1m", bars, RollupBackend.PORTABLE)
        return tickers, key
    finally:
        await pool.close()


@dataclass(frozen=True)
class Probe:
    """One kind of request the bench times."""

    method: str
    path: str
    body: dict[str, Any] | None = None


async def timed(
    client: httpx.AsyncClient, probes: dict[str, Probe], repeats: int
) -> dict[str, float]:
    """Median ms per probe. Probes take turns, so a load change on the machine (other work
    on a shared box) affects them all alike instead of skewing the ratios."""
    samples: dict[str, list[float]] = {name: [] for name in probes}
    for round_ in range(repeats + 3):  # 3 warm-up rounds: caches, statements, connections
        for name, probe in probes.items():
            started = time.perf_counter()
            response = await client.request(probe.method, probe.path, json=probe.body)
            response.raise_for_status()
            _ = response.content
            if round_ >= 3:
                samples[name].append(time.perf_counter() - started)
    return {name: statistics.median(times) * 1000 for name, times in samples.items()}


async def measure(origin: str, repeats: int) -> None:
    # identity: measure producing the answer, not gzip (which costs every path the same)
    headers = {"Accept-Encoding": "identity"}
    async with httpx.AsyncClient(base_url=origin, timeout=120, headers=headers) as client:
        check = (await client.post("/graphql", json={"query": BULK})).json()
        assert len(check["data"]["bars"]) == BARS, check.get("errors")
        bulk = await timed(
            client,
            {
                "floor": Probe("GET", "/floor"),
                "fast": Probe("POST", "/graphql", {"query": BULK}),
                "series": Probe("POST", "/graphql", {"query": SERIES}),
                "stock": Probe("POST", "/graphql-stock", {"query": BULK}),
            },
            repeats,
        )
    floor, fast, stock, series = bulk["floor"], bulk["fast"], bulk["stock"], bulk["series"]
    print(f"{BARS} bars of one symbol ({FIELDS}), median of {repeats} requests over HTTP:")
    print(f"  (a) floor, asyncpg + orjson route:   {floor:8.1f} ms")
    print(f"  (b) marketgraph GraphQL (fast path): {fast:8.1f} ms", end="")
    print(f"   (b)/(a) = {fast / floor:.2f}  (target <= 2)")
    print(f"  (c) stock Strawberry execution:      {stock:8.1f} ms", end="")
    print(f"   (c)/(b) = {stock / fast:.1f}  (target >= 10)   (c)/(a) = {stock / floor:.1f}")
    print(
        f"  (d) the same bars as barSeries:      {series:8.1f} ms   (d)/(a) = {series / floor:.2f}"
    )


async def run(admin_url: str, args: argparse.Namespace) -> None:
    name = f"mg_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = urlunsplit(urlsplit(admin_url)._replace(path="/" + name))
    try:
        await migrate(url, use_timescaledb=False)
        _, key = await load(url)
        if args.case in ("small", "all"):
            measured = await asyncio.to_thread(
                run_small, url, key, seconds=args.seconds, rounds=args.rounds
            )
            report(measured, args.seconds, args.rounds)
        if args.case in ("bulk", "all"):
            await run_bulk(url, args.repeats)
            many = await asyncio.to_thread(run_many, url, seconds=args.seconds, rounds=args.rounds)
            report_many(many, args.seconds, args.rounds)
        if args.case == "instructions":
            counted = await asyncio.to_thread(
                count_instructions, url, key, requests=args.requests, warmup=args.warmup
            )
            report_instructions(counted, args.requests)
    finally:
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


async def run_bulk(url: str, repeats: int) -> None:
    # no response cache and no rate limit: every request is answered in full
    settings = Settings(  # type: ignore[call-arg]
        database_url=url,
        anonymous_reads=True,
        cache_ttl_seconds=0,
        anonymous_rate_limit_per_minute=0,
        _env_file=None,
    )
    app = create_app(settings)

    async def floor(request: Request) -> Response:
        rows = await request.app.state.database.pool.fetch(FLOOR_SQL, BARS)
        body = orjson.dumps([dict(r) for r in rows], option=orjson.OPT_UTC_Z)
        return Response(body, media_type="application/json")

    stock = make_graphql_app(build_schema(fast_path=False), find_assets_dir())
    app.router.routes[:0] = [
        Route("/floor", floor),
        Route("/graphql-stock", stock, methods=["GET", "POST"]),
    ]
    with serve_in_thread(app, lifespan="on") as origin:
        await measure(origin, repeats)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--case", choices=("small", "bulk", "all", "instructions"), default="all")
    parser.add_argument("--repeats", type=int, default=15, help="bulk: requests per probe")
    parser.add_argument("--seconds", type=float, default=5, help="wrk: seconds per run")
    parser.add_argument("--rounds", type=int, default=3, help="wrk: runs per target")
    parser.add_argument("--requests", type=int, default=320, help="instructions: counted")
    parser.add_argument("--warmup", type=int, default=50, help="instructions: not counted")
    args = parser.parse_args()
    if args.database_url:
        asyncio.run(run(args.database_url, args))
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata", temporary=True)
        try:
            asyncio.run(run(server.admin_url, args))
        finally:
            server.stop()


if __name__ == "__main__":
    main()
