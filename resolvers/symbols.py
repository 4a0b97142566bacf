"""Field resolvers: check access and arguments, then ask the request's loaders."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from typing import Any

from resolvers.access import require
from resolvers.context import Context
from resolvers.errors import BAD_USER_INPUT, coded, from_storage
from resolvers.loaders import AggregateKey, BarsKey, LatestKey
from storage.api_keys import Scope
from storage.bars_read import Order, WindowSummary, validate_range, validate_symbols
from storage.errors import StorageError
from storage.symbols import SymbolInfo, market_of, search_symbols, validate_ticker
from storage.timeframes import Timeframe

MAX_SEARCH_RESULTS = 500


def _checked(*checks: Callable[[], object]) -> None:
    """Run storage validators, turning their errors into coded GraphQL errors."""
    try:
        for check in checks:
            check()
    except StorageError as exc:
        raise from_storage(exc) from exc


async def _load(loader: Any, key: Any) -> Any:
    try:
        return await loader.load(key)
    except StorageError as exc:
        raise from_storage(exc) from exc


def _tickers(tickers: list[str]) -> list[str]:
    """Validated, de-duplicated tickers in the order given."""
    try:
        return validate_symbols(tickers)
    except StorageError as exc:
        raise from_storage(exc) from exc


def check_limit(context: Context, limit: int) -> None:
    cap = context.services.max_bars_per_response
    if not 1 <= limit <= cap:
        raise coded(f"limit must be between 1 and {cap}, got {limit}", BAD_USER_INPUT)


async def bars(
    context: Context,
    ticker: str,
    timeframe: Timeframe,
    start: datetime | None,
    end: datetime | None,
    limit: int,
    order: Order,
    columns: frozenset[str] | None = None,
) -> list[Any]:
    """Bars of one ticker; many calls in one request share one SQL statement."""
    require(context, Scope.READ)
    check_limit(context, limit)
    _checked(lambda: validate_ticker(ticker), lambda: validate_range(start, end))
    rows: list[Any] = await _load(
        context.loaders.bars, BarsKey(ticker, timeframe, start, end, limit, order, columns)
    )
    return rows


async def latest_bar(context: Context, ticker: str, timeframe: Timeframe) -> Any:
    require(context, Scope.READ)
    _checked(lambda: validate_ticker(ticker))
    return await _load(context.loaders.latest, LatestKey(ticker, timeframe))


async def aggregate(
    context: Context, ticker: str, start: datetime, end: datetime, basis: Timeframe
) -> WindowSummary | None:
    require(context, Scope.READ)
    if basis not in (Timeframe.M1, Timeframe.D1):
        raise coded("basis must be M1 (intraday) or D1 (daily)", BAD_USER_INPUT)
    _checked(lambda: validate_ticker(ticker), lambda: validate_range(start, end))
    summary: WindowSummary | None = await _load(
        context.loaders.aggregate, AggregateKey(ticker, start, end, basis)
    )
    return summary


async def aggregates(
    context: Context, tickers: list[str], start: datetime, end: datetime, basis: Timeframe
) -> list[WindowSummary]:
    """Summaries of the tickers that have data in the window, in the order given (batched)."""
    unique = _tickers(tickers)
    found = await asyncio.gather(*(aggregate(context, t, start, end, basis) for t in unique))
    return [summary for summary in found if summary is not None]


async def symbol(context: Context, ticker: str) -> SymbolInfo | None:
    """Reference data of a ticker the store knows (has reference data or bars for)."""
    require(context, Scope.READ)
    _checked(lambda: validate_ticker(ticker))
    info: SymbolInfo | None = await _load(context.loaders.symbol, ticker)
    return info


async def symbols(
    context: Context,
    tickers: list[str] | None,
    search: str | None,
    market: str | None,
    first: int,
    after: str | None,
) -> list[SymbolInfo]:
    """The listed tickers (all of them, in order), or a page of a search of reference data."""
    require(context, Scope.READ)
    if tickers is not None:
        unique = _tickers(tickers)
        try:
            known = await context.loaders.symbol.load_many(unique)  # one statement for all
        except StorageError as exc:
            raise from_storage(exc) from exc
        return [
            info or SymbolInfo(t, None, market_of(t), None, None, True)
            for t, info in zip(unique, known, strict=True)
        ]
    if not 1 <= first <= MAX_SEARCH_RESULTS:
        raise coded(
            f"first must be between 1 and {MAX_SEARCH_RESULTS}, got {first}", BAD_USER_INPUT
        )
    if search is not None and not 1 <= len(search) <= 100:
        raise coded("search must be 1 to 100 characters", BAD_USER_INPUT)
    if after is not None:
        _checked(lambda: validate_ticker(after))
    return await search_symbols(context.services.pool, search, market, first, after)
