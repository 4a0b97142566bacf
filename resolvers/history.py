"""Bars by calendar day with a quality floor (the REST `historical` route), and the newest
bars of several symbols (`bars`): the same loaders, rollups and fetch-on-miss as GraphQL.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from domain.errors import InvalidInput, NotFound
from domain.tickers import trades_around_the_clock
from domain.timeframes import Timeframe
from resolvers import validation
from resolvers.context import RequestContext
from resolvers.loaders import BarsKey

NEW_YORK = ZoneInfo("America/New_York")


def day_start(symbol: str, day: date) -> datetime:
    """Midnight of `day` where the symbol's day is counted: UTC for crypto and forex, New York
    for everything else (the exchange day daily bars follow)."""
    zone = UTC if trades_around_the_clock(symbol) else NEW_YORK
    return datetime.combine(day, time(), zone).astimezone(UTC)


async def historical(
    context: RequestContext,
    symbol: str,
    start: date,
    end: date,
    timeframe: str,
    min_quality: float | None,
) -> tuple[Timeframe, list[asyncpg.Record]]:
    """Bars of `symbol` from the first moment of `start` to the last of `end` (both days
    included), oldest first, only those scoring at least `min_quality` when given.

    NotFound when there are none; InvalidInput past the per-response cap.
    """
    validation.ticker(symbol)
    tf = validation.history_timeframe(timeframe)
    validation.date_order(start, end)
    if min_quality is not None:
        validation.quality_threshold(min_quality)
    cap = context.services.max_bars_per_response
    lower, upper = day_start(symbol, start), day_start(symbol, end + timedelta(days=1))
    key = BarsKey(symbol, tf, lower, upper, cap + 1, "asc", None, min_quality)
    rows = await context.loaders.bars.load(key)
    if not rows:
        raise NotFound(f"no {tf.value} data for {symbol} from {start} to {end}")
    if len(rows) > cap:
        raise InvalidInput(
            f"more than {cap} bars in that range at {tf.value}; ask for a shorter range"
        )
    return tf, rows


async def newest_bars(
    context: RequestContext, symbols: list[str], timeframe: str, limit: int
) -> list[asyncpg.Record]:
    """The newest `limit` bars of each symbol, newest first over all of them (batched)."""
    unique = validation.tickers(symbols)
    tf = validation.timeframe(timeframe)
    cap = context.services.max_bars_per_response
    validation.limit(limit, cap)
    if limit * len(unique) > cap:
        total = limit * len(unique)
        raise InvalidInput(f"limit times symbols is {total}; at most {cap} bars per response")
    keys = [BarsKey(s, tf, None, None, limit, "desc") for s in unique]
    found = await context.loaders.bars.load_many(keys)
    rows = [row for group in found for row in group]
    return sorted(rows, key=lambda r: r["time"], reverse=True)
