"""Rollup reads and the write path on both backends, over the same bars, in one run.

Reads (storage read functions called directly, the two backends alternating call by call,
median and fastest of --repeats after a warm-up) over 200k minute bars of 10 symbols stored
through `upsert_bars`: latest 5m bar of 3 symbols, 500 1h bars, 200 4h bars newest first, a
5-day summary of 10 symbols. Target: caggs <= 1.2x portable. These are the store's share of a
request only; `--graphql` times the same reads as whole GraphQL requests to a served gateway
(one per backend), `--explain` adds EXPLAIN ANALYZE's planning and execution times.
Write path: rows/s of a 1M-minute-bar backfill including materialization, written as
resolvers/backfill.py writes (a UTC month at a time: each ticker's month one write, then the
month's rollups materialized once, storage/rollup_batch.py), against a raw COPY into `bars` of
the same database kind. Target: caggs >= half the portable rate. `--per-ticker` measures the
former way too (each write materialized at once), for comparison.

Run: `.venv/bin/python bench/rollups.py --caggs-url URL [--portable-url URL] [--reads-only]`.
Both URLs name a server (scratch databases are created and dropped); the caggs one needs full
TimescaleDB. The portable database is made with `use_timescaledb=False`, on --portable-url or
the same server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from starlette.applications import Starlette

sys.path[0] = str(Path(__file__).resolve().parent.parent)  # not bench/: it holds graphql.py

from bench.ingest import make_bars
from bench.support import scratch_database
from domain.timeframes import Timeframe, tiling_timeframe
from gateway.app import create_app
from gateway.settings import Settings
from storage.bars_read import bars_sql, fetch_bars, latest_bars, summary_sql, window_summary
from storage.bars_write import COLUMNS, BarIn, upsert_bars
from storage.features import RollupBackend
from storage.migrations import migrate
from storage.pool import create_pool
from storage.rollup_batch import RollupBatch
from tests.support.live_server import serve_in_thread

SYMBOLS = [f"X:S{s}USD" for s in range(10)]  # as make_bars names them
SUMMARY = (datetime(2024, 1, 5, tzinfo=UTC), datetime(2024, 1, 10, tzinfo=UTC))


def month_windows(bars: list[BarIn]) -> list[list[list[BarIn]]]:
    """Per UTC month, one write per ticker: the order a backfill stores bars in."""
    pages: dict[tuple[int, int], dict[str, list[BarIn]]] = {}
    for bar in bars:
        month = pages.setdefault((bar.time.year, bar.time.month), {})
        month.setdefault(bar.symbol, []).append(bar)
    return [list(month.values()) for _, month in sorted(pages.items())]


async def backfill(
    pool: asyncpg.Pool, bars: list[BarIn], backend: RollupBackend, *, per_ticker: bool = False
) -> float:
    """Seconds to store `bars` a month at a time, materializing once per month (or per write)."""
    started = time.perf_counter()
    batch = RollupBatch(pool)
    for window in month_windows(bars):
        for page in window:
            await upsert_bars(pool, "1m", page, backend, batch=None if per_ticker else batch)
        await batch.flush()
    return time.perf_counter() - started


def read_calls(pool: asyncpg.Pool) -> dict[str, Callable[[], Awaitable[object]]]:
    one = SYMBOLS[:1]
    return {
        "latestBar(M5), 3 symbols": lambda: latest_bars(pool, SYMBOLS[:3], "5m"),
        "bars(H1, limit 500)": lambda: fetch_bars(pool, one, "1h", limit=500),
        "bars(H4, limit 200, DESC)": lambda: fetch_bars(pool, one, "4h", limit=200, order="desc"),
        "aggregates(10 tickers, 5 days)": lambda: window_summary(pool, SYMBOLS, *SUMMARY),
    }


def read_statements() -> dict[str, tuple[str, list[object]]]:
    """The statements behind `read_calls`, with their arguments, for EXPLAIN."""
    one = SYMBOLS[:1]
    summary = tiling_timeframe(Timeframe.M1, *SUMMARY)
    return {
        "latestBar(M5), 3 symbols": (
            bars_sql(Timeframe.M5, "desc", False, False),
            [SYMBOLS[:3], 1],
        ),
        "bars(H1, limit 500)": (bars_sql(Timeframe.H1, "asc", False, False), [one, 500]),
        "bars(H4, limit 200, DESC)": (bars_sql(Timeframe.H4, "desc", False, False), [one, 200]),
        "aggregates(10 tickers, 5 days)": (summary_sql(summary), [SYMBOLS, *SUMMARY]),
    }


Figures = dict[str, dict[RollupBackend, tuple[float, float]]]  # query -> backend -> (median, min)

_FIELDS = "{ time open high low close volume }"
_THREE, _TEN = json.dumps(SYMBOLS[:3]), json.dumps(SYMBOLS)
_FROM, _TO = (json.dumps(t.isoformat()) for t in SUMMARY)
GRAPHQL = {  # the same reads as `read_calls`, as whole requests
    "latestBar(M5), 3 symbols": f"{{ symbols(tickers: {_THREE}) {{ latestBar(timeframe: M5)"
    f" {_FIELDS} }} }}",
    "bars(H1, limit 500)": f'{{ bars(ticker: "{SYMBOLS[0]}", timeframe: H1, limit: 500)'
    f" {_FIELDS} }}",
    "bars(H4, limit 200, DESC)": f'{{ bars(ticker: "{SYMBOLS[0]}", timeframe: H4, limit: 200,'
    f" order: DESC) {_FIELDS} }}",
    "aggregates(10 tickers, 5 days)": f"{{ aggregates(tickers: {_TEN}, from: {_FROM},"
    f" to: {_TO}) {{ ticker open close volume barCount }} }}",
}


async def reads(pools: dict[RollupBackend, asyncpg.Pool], repeats: int) -> Figures:
    """Median and fastest ms per query and backend, the backends alternating call by call.

    The machine may be shared: the median says what a caller waits, the minimum what the
    statement costs when nothing else runs; both are reported.
    """
    calls = {b: read_calls(pool) for b, pool in pools.items()}
    out: Figures = {}
    for name in calls[RollupBackend.CAGGS]:
        times: dict[RollupBackend, list[float]] = {b: [] for b in pools}
        for i in range(repeats + 5):  # the first 5 warm up (prepared statements, plans)
            for backend in pools:
                started = time.perf_counter()
                await calls[backend][name]()
                if i >= 5:
                    times[backend].append((time.perf_counter() - started) * 1000)
        out[name] = {b: (statistics.median(t), min(t)) for b, t in times.items()}
    return out


async def explained(pools: dict[RollupBackend, asyncpg.Pool], repeats: int) -> Figures:
    """Median planning and execution ms of each read statement, from EXPLAIN ANALYZE."""
    out: Figures = {}
    for name, (sql, args) in read_statements().items():
        out[name] = {}
        for backend, pool in pools.items():
            planning, execution = [], []
            async with pool.acquire() as conn:
                for _ in range(repeats):
                    plan = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", *args)
                    top = json.loads(plan)[0] if isinstance(plan, str) else plan[0]
                    planning.append(top["Planning Time"])
                    execution.append(top["Execution Time"])
            out[name][backend] = (statistics.median(planning), statistics.median(execution))
    return out


def gateway(url: str, backend: RollupBackend) -> Starlette:
    """The gateway on `url`, response cache off, anonymous reads, no upstream."""
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=url, anonymous_reads=True, cache_ttl_seconds=0,
        log_level="warning", anonymous_rate_limit_per_minute=0,
        timescaledb="auto" if backend is RollupBackend.CAGGS else "off",
    )  # fmt: skip
    return create_app(settings)


async def requests(origins: dict[RollupBackend, str], repeats: int) -> Figures:
    """The same reads as whole GraphQL requests over HTTP, backends alternating."""
    out: Figures = {}
    async with httpx.AsyncClient(timeout=30) as client:
        for name, query in GRAPHQL.items():
            times: dict[RollupBackend, list[float]] = {b: [] for b in origins}
            for i in range(repeats + 5):
                for backend, origin in origins.items():
                    started = time.perf_counter()
                    response = await client.post(f"{origin}/graphql", json={"query": query})
                    elapsed = (time.perf_counter() - started) * 1000
                    response.raise_for_status()
                    if response.json().get("errors"):
                        raise SystemExit(f"{name}: {response.json()['errors']}")
                    if i >= 5:
                        times[backend].append(elapsed)
            out[name] = {b: (statistics.median(t), min(t)) for b, t in times.items()}
    return out


def print_reads(figures: Figures, rows: int, repeats: int, what: str = "store calls") -> None:
    caggs, portable = RollupBackend.CAGGS, RollupBackend.PORTABLE
    print(f"\n{what} over {rows:,} 1m bars of 10 symbols; {repeats} calls each, ms")
    print(
        f"{'read':<32}{'caggs med':>10}{'port med':>9}{'ratio':>7}"
        f"{'caggs min':>10}{'port min':>9}{'ratio':>7}"
    )
    for name, by in figures.items():
        (cm, cn), (pm, pn) = by[caggs], by[portable]
        ratios = f"{cm:>10.3f}{pm:>9.3f}{cm / pm:>6.2f}x{cn:>10.3f}{pn:>9.3f}{cn / pn:>6.2f}x"
        print(f"{name:<32}{ratios}")
    medians = max(by[caggs][0] / by[portable][0] for by in figures.values())
    fastest = max(by[caggs][1] / by[portable][1] for by in figures.values())
    print(
        f"worst ratio: median {medians:.2f}x, fastest {fastest:.2f}x (target <= 1.2x, never > 1.5x)"
    )


def print_explained(figures: Figures) -> None:
    caggs, portable = RollupBackend.CAGGS, RollupBackend.PORTABLE
    print("\nEXPLAIN ANALYZE, median ms: planning / execution")
    print(f"{'read':<32}{'caggs plan':>11}{'exec':>8}{'port plan':>11}{'exec':>8}")
    for name, by in figures.items():
        (cp, ce), (pp, pe) = by[caggs], by[portable]
        print(f"{name:<32}{cp:>11.3f}{ce:>8.3f}{pp:>11.3f}{pe:>8.3f}")


@contextlib.asynccontextmanager
async def fresh(admin_url: str, backend: RollupBackend) -> AsyncIterator[str]:
    """A scratch database migrated for `backend` (refused when the server cannot give it)."""
    async with scratch_database(admin_url) as url:
        report = await migrate(url, use_timescaledb=backend is RollupBackend.CAGGS)
        if report.rollup_backend is not backend:
            raise SystemExit(f"{admin_url} offers {report.rollup_backend}, not {backend}")
        yield url


async def write_path(
    admin_url: str, backend: RollupBackend, rows: int, phases: tuple[str, ...]
) -> list[float]:
    """Seconds per phase: a backfill through upsert_bars (by month, or per ticker), a raw COPY."""
    out = []
    for phase in phases:
        async with fresh(admin_url, backend) as url:
            pool = await create_pool(url, min_size=1, max_size=2)
            try:
                if phase != "raw":
                    per_ticker = phase == "per-ticker"
                    out.append(
                        await backfill(pool, make_bars(rows), backend, per_ticker=per_ticker)
                    )
                else:
                    records = [("1m", *b) for b in make_bars(rows)]
                    started = time.perf_counter()
                    async with pool.acquire() as conn:
                        await conn.copy_records_to_table(
                            "bars", records=records, columns=("timeframe", *COLUMNS)
                        )
                    out.append(time.perf_counter() - started)
            finally:
                await pool.close()
    return out


async def run(args: argparse.Namespace) -> None:
    urls = {
        RollupBackend.CAGGS: args.caggs_url,
        RollupBackend.PORTABLE: args.portable_url or args.caggs_url,
    }
    pools, stored, db_urls = {}, {}, {}
    async with contextlib.AsyncExitStack() as made:
        for backend, url in urls.items():
            db_urls[backend] = await made.enter_async_context(fresh(url, backend))
            pools[backend] = await create_pool(db_urls[backend], min_size=1, max_size=2)
            made.push_async_callback(pools[backend].close)
            stored[backend] = await backfill(pools[backend], make_bars(args.read_rows), backend)
            # as autovacuum would soon: plans (and whether a generic plan is cached) follow the
            # statistics, which a freshly loaded database lacks for its new chunks
            await pools[backend].execute("ANALYZE")
        figures = await reads(pools, args.repeats)
        plans = await explained(pools, args.repeats) if args.explain else None
        served = None
        if args.graphql:
            with contextlib.ExitStack() as servers:
                origins = {
                    b: servers.enter_context(serve_in_thread(gateway(u, b), lifespan="on"))
                    for b, u in db_urls.items()
                }
                served = await requests(origins, args.repeats)
    print_reads(figures, args.read_rows, args.repeats)
    if plans is not None:
        print_explained(plans)
    if served is not None:
        print_reads(served, args.read_rows, args.repeats, "GraphQL requests over HTTP")
    if args.reads_only:
        return
    print(f"\nwrite path: {args.write_rows:,} 1m bars of 10 symbols, a month at a time")
    phases = ("backfill", "raw", "per-ticker") if args.per_ticker else ("backfill", "raw")
    rates = {}
    for backend, url in urls.items():
        filled, raw, *former = await write_path(url, backend, args.write_rows, phases)
        rates[backend] = args.write_rows / filled
        print(
            f"{backend.value:<9} backfill incl. rollups {rates[backend]:>9,.0f} rows/s"
            f" ({filled:.1f} s); raw COPY {args.write_rows / raw:>9,.0f} rows/s ({raw:.1f} s);"
            f" read set ({args.read_rows:,}) stored in {stored[backend]:.1f} s"
        )
        for seconds in former:
            print(
                f"{'':<9} materialized per ticker's write instead:"
                f" {args.write_rows / seconds:>9,.0f} rows/s ({seconds:.1f} s)"
            )
    share = rates[RollupBackend.CAGGS] / rates[RollupBackend.PORTABLE]
    print(f"caggs backfill rate / portable: {share:.2f} (target >= 0.5)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--caggs-url", required=True, help="a full TimescaleDB server")
    parser.add_argument("--portable-url", help="server for the portable backend (default: same)")
    parser.add_argument("--read-rows", type=int, default=200_000)
    parser.add_argument("--write-rows", type=int, default=1_000_000)
    parser.add_argument("--repeats", type=int, default=21)
    parser.add_argument("--reads-only", action="store_true", help="skip the write path")
    parser.add_argument(
        "--graphql", action="store_true", help="also the reads as GraphQL requests over HTTP"
    )
    parser.add_argument(
        "--explain", action="store_true", help="also planning/execution ms from EXPLAIN ANALYZE"
    )
    parser.add_argument(
        "--per-ticker", action="store_true", help="also time materializing after every write"
    )
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
