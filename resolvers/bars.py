"""Bars and window summaries: validate once, then ask the request's loaders (batched)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable, Sequence
from datetime import datetime
from typing import TypeVar

import asyncpg

from domain.records import Order, WindowSummary
from domain.timeframes import Timeframe
from resolvers import validation
from resolvers.batch_loader import BatchLoader
from resolvers.context import RequestContext
from resolvers.loaders import AggregateKey, BarsKey, LatestKey

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


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


async def latest_bars(
    context: RequestContext, tickers: Sequence[str], timeframe: Timeframe
) -> list[asyncpg.Record | Exception | None]:
    """The newest bar of each ticker at `timeframe` (None when it has none; an invalid ticker
    is its own error), in one loader batch."""
    keys = _keys(tickers, lambda ticker: LatestKey(ticker, timeframe))
    return await _load_each(context.loaders.latest, keys)


async def aggregate_each(
    context: RequestContext,
    tickers: Sequence[str],
    start: datetime,
    end: datetime,
    basis: Timeframe,
) -> list[WindowSummary | Exception | None]:
    """OHLCV over [start, end) of each ticker (None when it has no bars there; a refused
    ticker, basis or window is that ticker's error), in one loader batch."""
    try:  # the window is every ticker's: checked once (per ticker only when it is refused)
        _check_window(start, end, basis)
    except Exception:
        keys = _keys(tickers, lambda ticker: _aggregate_key(ticker, start, end, basis))
    else:
        keys = _keys(tickers, lambda ticker: AggregateKey(ticker, start, end, basis))
    return await _load_each(context.loaders.aggregate, keys)


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
    return await context.loaders.aggregate.load(_aggregate_key(ticker, start, end, basis))


def _aggregate_key(ticker: str, start: datetime, end: datetime, basis: Timeframe) -> AggregateKey:
    _check_window(start, end, basis)
    return AggregateKey(ticker, start, end, basis)


def _check_window(start: datetime, end: datetime, basis: Timeframe) -> None:
    validation.basis(basis)
    validation.bounded_range(start, end, "a summary")


def _keys(tickers: Sequence[str], key: Callable[[str], K]) -> list[K | Exception]:
    """Each ticker's loader key, or the error refusing the ticker or the key."""
    keys: list[K | Exception] = []
    for ticker in tickers:
        try:
            validation.ticker(ticker)
            keys.append(key(ticker))
        except Exception as error:
            keys.append(error)
    return keys


async def _load_each(loader: BatchLoader[K, V], keys: list[K | Exception]) -> list[V | Exception]:
    """Each key's value; an Exception in place of a key is that place's outcome, and so is a
    batch's failure. The keys are asked for in one call: one batch, one wait."""
    wanted = [key for key in keys if not isinstance(key, Exception)]
    loaded = iter(await loader.outcomes(wanted))
    return [key if isinstance(key, Exception) else next(loaded) for key in keys]
