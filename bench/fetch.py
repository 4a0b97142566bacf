"""A cold miss through fetch-on-miss: time to first answer, and the store step vs a raw COPY.

Run: `.venv/bin/python bench/fetch.py [--database-url URL]`. Without a URL an embedded
PostgreSQL is started; with one, a scratch database is created on that server and dropped.

The fake Polygon (tests/fakes/polygon_server.py) runs in a child process, so serving JSON does
not compete with the client for this process's interpreter. It serves one year (2024) of a US
stock's trading minutes: about 98,000 bars, two pages of 50,000. Measured in one run:
- cold miss: `ReadThrough.ensure` + `fetch_bars` of the year, from an empty store;
- the upstream part alone: the same `PolygonClient.aggregates` call on its own;
- the store step: `upsert_bars` (COPY, upsert, rollup refresh) of the same rows, with quality
  flags, for a fresh symbol, vs a raw COPY of the same rows into a scratch copy of `bars`.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import on_a_server, scratch_database
from resolvers.fetch_budget import FetchLimits
from resolvers.read_through import ReadThrough
from storage.bars_read import fetch_bars
from storage.bars_write import COLUMNS, BarIn, upsert_bars
from storage.features import RollupBackend
from storage.migrations import migrate
from storage.pool import create_pool
from storage.quality import assess_series
from upstream.polygon import PolygonClient

NY = ZoneInfo("America/New_York")
TICKER = "AAPL"
YEAR = (datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC))
HOLIDAYS_2024 = {
    date(2024, 1, 1), date(2024, 1, 15), date(2024, 2, 19), date(2024, 3, 29), date(2024, 5, 27),
    date(2024, 6, 19), date(2024, 7, 4), date(2024, 9, 2), date(2024, 11, 28), date(2024, 12, 25),
}  # fmt: skip


def trading_minutes() -> list[dict[str, float | int]]:
    """Raw Polygon bars for every regular-session minute of 2024 (a seeded random walk)."""
    rng, price, raw = random.Random(2024), 180.0, []
    day = date(2024, 1, 1)
    while day < date(2025, 1, 1):
        if day.weekday() < 5 and day not in HOLIDAYS_2024:
            open_at = datetime(day.year, day.month, day.day, 9, 30, tzinfo=NY)
            for i in range(390):
                t = open_at + timedelta(minutes=i)
                o = price
                c = round(o * (1 + rng.gauss(0, 0.0008)), 4)
                h, lo = round(max(o, c) * 1.0005, 4), round(min(o, c) * 0.9995, 4)
                raw.append({"t": int(t.timestamp() * 1000), "o": o, "h": h, "l": lo, "c": c,
                            "v": rng.randint(100, 50_000), "vw": round((o + c) / 2, 4),
                            "n": rng.randint(1, 400)})  # fmt: skip
                price = c
        day += timedelta(days=1)
    return raw


def serve_fake() -> None:
    """Child process: serve the year of minutes until stdin closes."""
    from tests.fakes.polygon_server import FakePolygon

    fake = FakePolygon()
    fake.add_bars(TICKER, trading_minutes(), 1, "minute")
    fake.start()
    print(fake.url, fake.api_key, flush=True)
    sys.stdin.read()
    fake.stop()


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


async def run(admin_url: str, polygon_url: str, key: str, repeats: int) -> None:
    async with scratch_database(admin_url) as url:
        report = await migrate(url)
        pool = await create_pool(url, min_size=2, max_size=6)
        try:
            await measure(pool, report.rollup_backend, polygon_url, key, repeats)
        finally:
            await pool.close()


async def measure(
    pool: asyncpg.Pool, backend: RollupBackend, polygon_url: str, key: str, n: int
) -> None:
    async with PolygonClient(key, base_url=polygon_url, requests_per_minute=0) as client:
        # a year of minutes in one request: past the default per-request fetch bounds
        limits = FetchLimits(max_bars_per_symbol=600_000)
        service = ReadThrough(pool, backend, client, limits=limits)
        started = time.perf_counter()
        result = await service.ensure([TICKER], "1m", *YEAR)
        ensured = time.perf_counter()
        rows = await fetch_bars(pool, [TICKER], "1m", *YEAR, limit=200_000)
        cold, cold_ensure = time.perf_counter() - started, ensured - started
        if result.errors or len(rows) != result.bars_stored:
            raise SystemExit(f"cold miss went wrong: {result}, {len(rows)} rows read")
        started = time.perf_counter()
        await service.ensure([TICKER], "1m", *YEAR)
        warm_ensure = time.perf_counter() - started
        await fetch_bars(pool, [TICKER], "1m", *YEAR, limit=200_000)
        warm = time.perf_counter() - started

        upstream = []
        for _ in range(n):
            started = time.perf_counter()
            fetched = await client.aggregates(
                TICKER, 1, "minute", YEAR[0].date(), date(2024, 12, 31)
            )
            upstream.append(time.perf_counter() - started)

    bars = [BarIn(TICKER, b.time, b.open, b.high, b.low, b.close, b.volume, b.vwap, b.trades)
            for b in fetched]  # fmt: skip
    started = time.perf_counter()
    quality = assess_series(bars)
    judging = time.perf_counter() - started
    bars = [bar._replace(gap_detected=q.gap_detected, volume_anomaly=q.volume_anomaly,
                         quality_score=q.quality_score, validation_notes=q.validation_notes)
            for bar, q in zip(bars, quality, strict=True)]  # fmt: skip

    upserts, copies = [], []
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE bench_bars_copy (LIKE bars INCLUDING ALL)")
    for i in range(n):
        symbol = f"BENCH{i}"
        fresh = [bar._replace(symbol=symbol) for bar in bars]
        started = time.perf_counter()
        await upsert_bars(pool, "1m", fresh, backend)
        upserts.append(time.perf_counter() - started)
        records = [(*bar[:2], "1m", *bar[2:]) for bar in fresh]
        async with pool.acquire() as conn:
            started = time.perf_counter()
            await conn.copy_records_to_table(
                "bench_bars_copy", records=records, columns=(COLUMNS[0], COLUMNS[1], "timeframe",
                                                              *COLUMNS[2:]),
            )  # fmt: skip
            copies.append(time.perf_counter() - started)

    count = len(bars)
    u, c, f = (statistics.median(x) for x in (upserts, copies, upstream))
    print(f"{count:,} 1m bars ({TICKER}, 2024 regular sessions), rollups: {backend.value}")
    print(f"cold miss, ensure + fetch_bars (time to first answer): {ms(cold)}")
    print(f"  ensure (fetch, judge, store, record coverage):        {ms(cold_ensure)}")
    print(f"    upstream alone (2 pages over HTTP + parse):         {ms(f)}  (median of {n})")
    print(f"    quality flags in Python:                            {ms(judging)}")
    print(
        f"    store step alone (upsert_bars, below):              {ms(statistics.median(upserts))}"
    )
    print(f"warm request, ensure + fetch_bars (covered):           {ms(warm)}")
    print(f"  ensure alone (one coverage query):                    {ms(warm_ensure)}")
    print(f"store step, upsert_bars (COPY+upsert+rollups): {count / u:>10,.0f} rows/s  ({ms(u)})")
    print(f"raw COPY into a scratch copy of bars:          {count / c:>10,.0f} rows/s  ({ms(c)})")
    print(f"ratio upsert_bars / raw COPY time: {u / c:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--repeats", type=int, default=3, help="for the store-step figures")
    parser.add_argument("--serve-fake", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_fake:
        serve_fake()
        return
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-fake"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        polygon_url, key = child.stdout.readline().split()
        on_a_server(args.database_url, lambda url: run(url, polygon_url, key, args.repeats))
    finally:
        child.communicate()


if __name__ == "__main__":
    main()
