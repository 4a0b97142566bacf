"""GraphQL speed against its floor: bulk bars, and small requests under load.

`--case bulk`, each request alone, timed by `wrk` from outside its server: 10,000 bars of one
symbol through marketgraph's fast path, as `barSeries` and on stock Strawberry execution, against
a bare asyncpg + orjson route (bench/bulk.py; targets: fast <= 2x the floor, stock >= 10x
fast); then 50 symbols x (latestBar + aggregate) against 1 symbol, beside a bare route running
the same two statements, whose ratio bounds what any GraphQL layer can reach
(bench/many_symbols.py).

`--case small` (bench/small.py): one 1-bar query at 32 connections with `wrk`, against a floor
(Starlette + asyncpg + orjson), the floor's handler inside marketgraph's app (its middleware:
the most any GraphQL layer there can reach), marketgraph anonymous, with a key, via an APQ
hash, and stock Strawberry, each in its own uvicorn process: requests/s, p50, p99, RSS, ratios
to the floor.

`--case instructions` (bench/instructions.py): the small case's targets, then the many-symbols
probes (1 and 50 symbols, marketgraph and the plain route), counted in instructions per request
under valgrind's callgrind, which machine noise does not move; not in `all` (valgrind).

Run: `.venv/bin/python bench/graphql.py [--case small|bulk|all|instructions] [--database-url
URL] [--timescaledb] [--seconds S] [--rounds R] [--requests N]` (embedded PostgreSQL when no URL
is given). The bars are stored in plain tables unless `--timescaledb` asks for the `bars`
hypertable (and continuous aggregates where the server has full TimescaleDB); the floors then
read the same hypertable. The small and bulk cases need `wrk` (`apt-get install wrk`), instructions
`valgrind`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg

# this file is named graphql.py: its folder must not shadow the graphql package
sys.path[0] = str(Path(__file__).resolve().parent.parent)

from bench.bulk import report_bulk, run_bulk
from bench.instructions import (
    count_instructions,
    count_many_symbols,
    report_instructions,
    report_many_symbols,
)
from bench.many_symbols import TICKERS, report_many, run_many
from bench.small import report, run_small
from domain.access import Scope
from storage.api_keys import create_key
from storage.bars_write import BarIn, upsert_bars
from storage.demo import load_demo
from storage.embedded import EmbeddedPostgres
from storage.features import RollupBackend
from storage.migrations import migrate
from storage.pool import create_pool


async def load(url: str, backend: RollupBackend = RollupBackend.PORTABLE) -> str:
    """Demo data (X:BTCUSD has 11,520 minute bars) plus bench/many_symbols.py's 50 synthetic
    symbols with a day each; a new read key."""
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        await load_demo(pool, backend)
        _, key = await create_key(pool, "bench", (Scope.READ,))
        start = datetime(2024, 12, 30, tzinfo=UTC)
        bars = [
            BarIn(t, start + timedelta(minutes=m), 10 + m % 7, 11 + m % 7, 9, 10.5, 100, 10.2, 5)
            for t in TICKERS
            for m in range(1440)
        ]  # fmt: skip
        await upsert_bars(pool, "1m", bars, backend)
        return key
    finally:
        await pool.close()


async def run(admin_url: str, args: argparse.Namespace) -> None:
    name = f"mg_bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = urlunsplit(urlsplit(admin_url)._replace(path="/" + name))
    try:
        migrated = await migrate(url, use_timescaledb=args.timescaledb)
        key = await load(url, migrated.rollup_backend)
        if args.case in ("small", "all"):
            measured = await asyncio.to_thread(
                run_small, url, key, seconds=args.seconds, rounds=args.rounds
            )
            report(measured, args.seconds, args.rounds)
        if args.case in ("bulk", "all"):
            bulk = await asyncio.to_thread(run_bulk, url, seconds=args.seconds, rounds=args.rounds)
            report_bulk(bulk, args.seconds, args.rounds)
            many = await asyncio.to_thread(run_many, url, seconds=args.seconds, rounds=args.rounds)
            report_many(many, args.seconds, args.rounds)
        if args.case == "instructions":
            counted = await asyncio.to_thread(
                count_instructions, url, key, requests=args.requests, warmup=args.warmup
            )
            report_instructions(counted, args.requests)
            symbols = await asyncio.to_thread(
                count_many_symbols, url, requests=args.requests, warmup=args.warmup
            )
            report_many_symbols(symbols, args.requests)
    finally:
        conn = await asyncpg.connect(admin_url)
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--case", choices=("small", "bulk", "all", "instructions"), default="all")
    parser.add_argument(
        "--timescaledb",
        action="store_true",
        help="store the bars as production does, in TimescaleDB (the server must offer it)",
    )
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
