"""Per-request DataLoaders: N symbols cost one SQL statement per distinct argument set.

Each batch function groups its keys by their non-symbol arguments and makes one storage call
per group (groups run concurrently), returning one item per key in key order — an Exception
instance for a key that failed, so one bad symbol never fails the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from itertools import groupby
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

import asyncpg
from aiodataloader import DataLoader

from resolvers.access import may_fetch
from storage.bars_read import Order, WindowSummary, fetch_bars, latest_bars, window_summary
from storage.errors import StorageError
from storage.symbols import SymbolInfo, lookup_symbols
from storage.timeframes import Timeframe

if TYPE_CHECKING:
    from resolvers.context import Context


class SymbolKey(Protocol):
    @property
    def symbol(self) -> str: ...


K = TypeVar("K", bound=SymbolKey)
G = TypeVar("G", bound=Hashable)
_SYMBOL = itemgetter("symbol")


class BarsKey(NamedTuple):
    symbol: str
    timeframe: Timeframe
    start: datetime | None
    end: datetime | None
    limit: int
    order: Order
    columns: frozenset[str] | None = None  # None: every column


class LatestKey(NamedTuple):
    symbol: str
    timeframe: Timeframe


class AggregateKey(NamedTuple):
    symbol: str
    start: datetime
    end: datetime
    basis: Timeframe


async def _grouped(
    keys: Sequence[K],
    group_of: Callable[[K], G],
    load: Callable[[G, list[str]], Awaitable[dict[str, Any]]],
    missing: Callable[[], Any],
) -> list[Any]:
    """Run `load` once per group of keys (concurrently); map results back to keys in order.

    A StorageError fails its group's keys only; anything else is a bug and fails the batch.
    """
    groups: dict[G, list[str]] = {}
    for key in keys:
        groups.setdefault(group_of(key), []).append(key.symbol)
    loaded = await asyncio.gather(
        *(load(group, list(dict.fromkeys(symbols))) for group, symbols in groups.items()),
        return_exceptions=True,
    )
    for outcome in loaded:
        if isinstance(outcome, BaseException) and not isinstance(outcome, StorageError):
            raise outcome
    results = dict(zip(groups, loaded, strict=True))
    out: list[Any] = []
    for key in keys:
        found = results[group_of(key)]
        if isinstance(found, BaseException):
            out.append(found)
        else:
            value = found.get(key.symbol, None)
            out.append(missing() if value is None else value)
    return out


def _split(rows: list[asyncpg.Record], symbols: list[str]) -> dict[str, list[asyncpg.Record]]:
    """Rows of one statement per symbol (they come grouped by symbol, in the order asked)."""
    if len(symbols) == 1:
        return {symbols[0]: rows}
    found = {symbol: list(group) for symbol, group in groupby(rows, key=_SYMBOL)}
    return {symbol: found.get(symbol, []) for symbol in symbols}


@dataclass
class Loaders:
    """The loaders of one request."""

    bars: DataLoader[BarsKey, list[asyncpg.Record]]
    latest: DataLoader[LatestKey, asyncpg.Record | None]
    aggregate: DataLoader[AggregateKey, WindowSummary | None]
    symbol: DataLoader[str, SymbolInfo | None]

    @classmethod
    def for_context(cls, context: Context) -> Loaders:
        pool = context.services.pool

        async def ensure(
            symbols: list[str], tf: Timeframe, start: datetime | None, end: datetime | None
        ) -> dict[str, StorageError]:
            """Fetch what the store lacks first, when allowed; the per-symbol failures."""
            read_through = context.services.read_through
            if start is None or end is None or read_through is None or not may_fetch(context):
                return {}
            return dict((await read_through.ensure(symbols, tf, start, end)).errors)

        async def load_bars(group: tuple[Any, ...], symbols: list[str]) -> dict[str, Any]:
            tf, start, end, limit, order, columns = group
            failed = await ensure(symbols, tf, start, end)
            rows = await fetch_bars(
                pool, symbols, tf, start, end, limit=limit, order=order, columns=columns
            )
            return {**_split(rows, symbols), **failed}

        async def load_latest(tf: Timeframe, symbols: list[str]) -> dict[str, Any]:
            return dict(await latest_bars(pool, symbols, tf))

        async def load_aggregate(group: tuple[Any, ...], symbols: list[str]) -> dict[str, Any]:
            start, end, basis = group
            failed = await ensure(symbols, basis, start, end)
            found = await window_summary(pool, symbols, start, end, base=basis)
            return {**found, **failed}

        async def load_symbol(keys: Sequence[str]) -> list[SymbolInfo | None]:
            found = await lookup_symbols(pool, list(dict.fromkeys(keys)))
            return [found.get(k) for k in keys]

        return cls(
            bars=DataLoader(partial(_grouped, group_of=_bars_group, load=load_bars, missing=list)),
            latest=DataLoader(
                partial(_grouped, group_of=_timeframe, load=load_latest, missing=_none)
            ),
            aggregate=DataLoader(
                partial(_grouped, group_of=_aggregate_group, load=load_aggregate, missing=_none)
            ),
            symbol=DataLoader(load_symbol),
        )


def _bars_group(key: BarsKey) -> tuple[Any, ...]:
    """Everything but the symbol: keys equal here share one statement."""
    return key[1:]


def _aggregate_group(key: AggregateKey) -> tuple[Any, ...]:
    return key[1:]


def _timeframe(key: LatestKey) -> Timeframe:
    return key.timeframe


def _none() -> None:
    return None
