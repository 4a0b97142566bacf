"""Rows/s of the bulk upsert path vs a raw COPY of the same rows into the same table.

Run: `.venv/bin/python bench/ingest.py [--database-url URL] [--rows N]`. Without a URL an
embedded PostgreSQL is started. Each path runs on a fresh scratch database, in one run.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.support import on_a_server, scratch_database
from storage.bars_write import COLUMNS, BarIn, upsert_bars
from storage.features import RollupBackend
from storage.migrations import migrate
from storage.pool import create_pool


def make_bars(n: int, symbols: int = 10) -> list[BarIn]:
    rng = random.Random(1)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    per = n // symbols
    out = []
    for s in range(symbols):
        price = 100.0
        for i in range(per):
            o = price
            c = o * (1 + rng.gauss(0, 0.001))
            out.append(BarIn(f"X:S{s}USD", start + timedelta(minutes=i), o, max(o, c) * 1.001,
                             min(o, c) * 0.999, c, rng.uniform(1, 100), (o + c) / 2))  # fmt: skip
            price = c
    return out


async def run(admin_url: str, n: int, repeats: int) -> None:
    bars = make_bars(n)
    raw, upsert, reingest = [], [], []
    for _ in range(repeats):
        for path in ("raw", "upsert"):
            async with scratch_database(admin_url) as url:
                report = await migrate(url, use_timescaledb=False)
                pool = await create_pool(url, min_size=1, max_size=2)
                try:
                    if path == "raw":
                        started = time.perf_counter()
                        async with pool.acquire() as conn:
                            await conn.copy_records_to_table(
                                "bars",
                                records=[("1m", *b) for b in bars],
                                columns=("timeframe", *COLUMNS),
                            )
                        raw.append(time.perf_counter() - started)
                    else:
                        started = time.perf_counter()
                        await upsert_bars(pool, "1m", bars, RollupBackend.PORTABLE)
                        upsert.append(time.perf_counter() - started)
                        started = time.perf_counter()
                        await upsert_bars(pool, "1m", bars, RollupBackend.PORTABLE)
                        reingest.append(time.perf_counter() - started)
                finally:
                    await pool.close()
    backend = report.rollup_backend.value
    r, u, again = (statistics.median(x) for x in (raw, upsert, reingest))
    print(
        f"rows: {n} (1m bars, 10 symbols), repeats: {repeats}, median timings, rollups: {backend}"
    )
    print(f"raw COPY into bars:                   {n / r:>10,.0f} rows/s  ({r * 1000:.0f} ms)")
    print(f"upsert_bars (COPY+upsert+5 rollups):  {n / u:>10,.0f} rows/s  ({u * 1000:.0f} ms)")
    print(
        f"re-ingest of the same rows (no-op):   {n / again:>10,.0f} rows/s  ({again * 1000:.0f} ms)"
    )
    print(f"ratio upsert / raw COPY time: {u / r:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", help="server to use (default: an embedded one)")
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    on_a_server(args.database_url, lambda url: run(url, args.rows, args.repeats))


if __name__ == "__main__":
    main()
