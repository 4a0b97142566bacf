"""`marketgraph backfill`: fetch history from Polygon into the store, with a progress bar.

The same path as a fetch-on-miss (coverage, single-flight, quality flags, rollups), so ranges
already stored are skipped and an interrupted backfill resumes where it stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

from tqdm import tqdm

from gateway.app import polygon_client
from gateway.database import open_database
from gateway.settings import Settings
from resolvers.backfill import backfill
from resolvers.read_through import ReadThrough


def _day(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("backfill", help="fetch history from Polygon into the store")
    parser.add_argument("tickers", nargs="+", metavar="TICKER")
    parser.add_argument("--timeframe", choices=["1m", "1d"], default="1d")
    parser.add_argument("--from", dest="start", type=_day, required=True, help="ISO date")
    parser.add_argument("--to", dest="end", type=_day, required=True, help="ISO date (excluded)")
    parser.set_defaults(handler=_run)


def _run(args: argparse.Namespace, settings: Settings) -> int:
    if not settings.polygon_api_key:
        print("error: set POLYGON_API_KEY to backfill from Polygon", file=sys.stderr)
        return 1
    return asyncio.run(_backfill(args, settings))


async def _backfill(args: argparse.Namespace, settings: Settings) -> int:
    database = await open_database(settings)
    client = polygon_client(settings, pool=database.pool)  # the same budget as the gateway
    bars = {t: tqdm(desc=t, unit="chunk", position=i) for i, t in enumerate(args.tickers)}

    def progress(ticker: str, done: int, total: int) -> None:
        bar = bars[ticker]
        bar.total = total
        bar.n = done
        bar.refresh()

    try:
        read_through = ReadThrough(database.pool, database.backend, client)
        report = await backfill(
            read_through, args.tickers, args.timeframe, args.start, args.end, on_progress=progress
        )
        await read_through.aclose()
    finally:
        for bar in bars.values():
            bar.close()
        if client is not None:
            await client.aclose()
        await database.close()
    print(f"stored {report.bars_stored} bars in {report.fetched_ranges} upstream fetches")
    for ticker, error in report.errors.items():
        print(f"error: {ticker}: {error}", file=sys.stderr)
    return 1 if report.errors else 0
