"""Per-request DataLoaders: N symbols cost one SQL statement per distinct argument set.

Each batch function groups its keys by their non-symbol arguments and makes one storage call
per group, returning one item per key in key order — an Exception instance for a key that
failed, so one bad symbol never fails the others.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable, Hashable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from aiodataloader import DataLoader

from resolvers.access import may_fetch
from storage.bars_read import Order, WindowSummary, fetch_bars, latest_bars, window_summary
from storage.errors import StorageError
from storage.symbols import SymbolInfo, lookup_symbols
from storage.timeframes import Timeframe

if TYPE_CHECKING:
    from resolvers.context import Context

K = TypeVar("K", bound=Hashable)
G = TypeVar("G", bound=Hashable)


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
    missing: Any,
) -> list[Any]:
    """Run `load` once per group of keys; map results back to keys in order."""
    groups: dict[G, list[str]] = defaultdict(list)
    for key in keys:
        groups[group_of(key)].append(key.symbol)  # type: ignore[attr-defined]
    results: dict[G, dict[str, Any] | BaseException] = {}
    for group, symbols in groups.items():
        try:
            results[group] = await load(group, list(dict.fromkeys(symbols)))
        except StorageError as exc:
            results[group] = exc
    out: list[Any] = []
    for key in keys:
        found = results[group_of(key)]
        if isinstance(found, BaseException):
            out.append(found)
        else:
            out.append(found.get(key.symbol, missing))  # type: ignore[attr-defined]
    return out


@dataclass
class Loaders:
    """The loaders of one request."""

    bars: DataLoader[BarsKey, list[Any]]
    latest: DataLoader[LatestKey, Any]
    aggregate: DataLoader[AggregateKey, WindowSummary | None]
    symbol: DataLoader[str, SymbolInfo | None]

    @classmethod
    def for_context(cls, context: Context) -> Loaders:
        pool = context.services.pool

        async def ensure(symbols: list[str], tf: Timeframe, start: Any, end: Any) -> dict[str, Any]:
            """Fetch misses first when allowed; returns the per-symbol upstream errors."""
            read_through = context.services.read_through
            if start is None or end is None or read_through is None:
                return {}
            if not may_fetch(context):
                return {}
            return dict((await read_through.ensure(symbols, tf, start, end)).errors)

        async def load_bars(group: tuple[Any, ...], symbols: list[str]) -> dict[str, Any]:
            tf, start, end, limit, order, columns = group
            failed = await ensure(symbols, tf, start, end)
            rows = await fetch_bars(
                pool, symbols, tf, start, end, limit=limit, order=order, columns=columns
            )
            by_symbol: dict[str, Any] = {s: [] for s in symbols}
            for row in rows:
                by_symbol[row["symbol"]].append(row)
            return {**by_symbol, **failed}

        async def load_latest(tf: Timeframe, symbols: list[str]) -> dict[str, Any]:
            return dict(await latest_bars(pool, symbols, tf))

        async def load_aggregate(group: tuple[Any, ...], symbols: list[str]) -> dict[str, Any]:
            start, end, basis = group
            failed = await ensure(symbols, basis, start, end)
            found: dict[str, WindowSummary | StorageError] = dict(
                await window_summary(pool, symbols, start, end, base=basis)
            )
            return {**found, **failed}

        async def load_symbol(keys: Sequence[str]) -> list[SymbolInfo | None]:
            found = await lookup_symbols(pool, list(dict.fromkeys(keys)))
            return [found.get(k) for k in keys]

        return cls(
            bars=DataLoader(partial(_grouped, group_of=_args, load=load_bars, missing=[])),
            latest=DataLoader(
                partial(_grouped, group_of=_timeframe, load=load_latest, missing=None)
            ),
            aggregate=DataLoader(
                partial(_grouped, group_of=_args, load=load_aggregate, missing=None)
            ),
            symbol=DataLoader(load_symbol),
        )


def _args(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Everything but the symbol: keys equal here share one statement."""
    return key[1:]


def _timeframe(key: LatestKey) -> Timeframe:
    return key.timeframe
