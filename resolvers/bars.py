"""Bars and window summaries: validate once, then ask the request's loaders (batched)."""

from __future__ import annotations

import asyncio
from datetime import datetime

import asyncpg

from domain.records import Order, WindowSummary
from domain.timeframes import Timeframe
from resolvers import validation
from resolvers.context import RequestContext
from resolvers.loaders import AggregateKey, BarsKey, LatestKey


async def bars(
    context: RequestContext,
    ticker: str,
    timeframe: Timeframe,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    order: Order,
    columns: frozenset[str] | None = None,
) -> list[asyncpg.Record]:
    """Bars of one ticker in [start, end); many calls in one request share one statement."""
    validation.ticker(ticker)
    validation.limit(limit, context.services.max_bars_per_response)
    validation.time_range(start, end)
    key = BarsKey(ticker, timeframe, start, end, limit, order, columns)
    return await context.loaders.bars.load(key)


async def latest_bar(
    context: RequestContext, ticker: str, timeframe: Timeframe
) -> asyncpg.Record | None:
    """The newest bar of a ticker at `timeframe` (None when it has none)."""
    validation.ticker(ticker)
    return await context.loaders.latest.load(LatestKey(ticker, timeframe))


async def aggregate(
    context: RequestContext, ticker: str, start: datetime, end: datetime, basis: Timeframe
) -> WindowSummary | None:
    """OHLCV over [start, end) of one ticker (None when it has no bars there)."""
    validation.ticker(ticker)
    return await _aggregate(context, ticker, start, end, basis)


async def aggregates(
    context: RequestContext,
    tickers: list[str],
    start: datetime,
    end: datetime,
    basis: Timeframe,
) -> list[WindowSummary]:
    """Summaries of the tickers that have data in the window, in the order given (batched)."""
    unique = validation.tickers(tickers)
    found = await asyncio.gather(*(_aggregate(context, t, start, end, basis) for t in unique))
    return [summary for summary in found if summary is not None]


async def _aggregate(
    context: RequestContext, ticker: str, start: datetime, end: datetime, basis: Timeframe
) -> WindowSummary | None:
    validation.basis(basis)
    validation.bounded_range(start, end, "a summary")
    return await context.loaders.aggregate.load(AggregateKey(ticker, start, end, basis))
