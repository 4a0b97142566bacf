"""Tracked symbols: what administrators ask the scheduled backfill to keep filled.

REST admin routes and GraphQL mutations both call these (each guarded with the `admin` scope
where it is declared).
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.errors import Conflict, NotFound
from domain.records import SymbolFigures, TrackedSymbol
from domain.timeframes import Timeframe
from resolvers import validation
from resolvers.context import RequestContext
from storage import tracked_symbols as store
from storage.quality import PASSING_SCORE
from storage.store_figures import symbol_figures

DEFAULT_TIMEFRAMES = (Timeframe.D1,)


def _found(symbol: str, tracked: TrackedSymbol | None) -> TrackedSymbol:
    if tracked is None:
        raise NotFound(f"{symbol} is not tracked")
    return tracked


async def track(context: RequestContext, symbol: str, asset_class: str) -> TrackedSymbol:
    """Start tracking `symbol`; Conflict when it is tracked already."""
    validation.ticker(symbol)
    kind = validation.asset_class(asset_class, symbol)
    added = await store.add_tracked(context.services.pool, symbol, kind, DEFAULT_TIMEFRAMES)
    if added is None:
        raise Conflict(f"{symbol} is tracked already")
    return added


async def listed(context: RequestContext, active_only: bool) -> list[TrackedSymbol]:
    return await store.list_tracked(context.services.pool, active_only)


async def one(context: RequestContext, symbol: str) -> TrackedSymbol:
    validation.ticker(symbol)
    return _found(symbol, await store.get_tracked(context.services.pool, symbol))


async def set_active(context: RequestContext, symbol: str, active: bool) -> TrackedSymbol:
    validation.ticker(symbol)
    return _found(symbol, await store.set_tracked_active(context.services.pool, symbol, active))


async def set_timeframes(
    context: RequestContext, symbol: str, timeframes: Sequence[str]
) -> TrackedSymbol:
    """Replace the timeframes (deduplicated, shortest first)."""
    validation.ticker(symbol)
    chosen = validation.tracked_timeframes(timeframes)
    return _found(symbol, await store.set_tracked_timeframes(context.services.pool, symbol, chosen))


async def untrack(context: RequestContext, symbol: str) -> str:
    """Soft delete: stop tracking, keep every stored bar."""
    validation.ticker(symbol)
    if not await store.delete_tracked(context.services.pool, symbol):
        raise NotFound(f"{symbol} is not tracked")
    return symbol


async def stats(context: RequestContext, symbols: Sequence[str]) -> dict[str, SymbolFigures]:
    """What the store holds of each symbol (one statement for all)."""
    figures = await symbol_figures(context.services.pool, PASSING_SCORE, symbols)
    return {f.symbol: f for f in figures}
