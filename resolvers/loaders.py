"""Per-request batch loaders (resolvers/batch_loader.py): N symbols cost one SQL statement
per distinct argument set.

Each batch function groups its keys by their non-symbol arguments and makes one storage call
per group (groups run concurrently), returning one item per key in key order — a
`ServiceError` instance for a key that failed, so one bad symbol never fails the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Sequence
from datetime import datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any, NamedTuple, Protocol, TypeVar

import asyncpg

from domain.errors import ServiceError
from domain.records import Order, SymbolInfo, WindowSummary
from domain.timeframes import BASE_TIMEFRAMES, Timeframe
from resolvers.batch_loader import BatchLoader
from resolvers.fetch_gate import FetchGate
from resolvers.read_route import ReadRoute
from storage.bar_chunks import chunk_start
from storage.bars_read import fetch_bars, latest_bars, window_summary
from storage.newest_bars import NewestBarTimes, newest_bars
from storage.symbols import lookup_symbols


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
    min_quality: float | None = None  # None: bars of any quality score


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

    What a key gets does not depend on which other keys shared its batch (stock execution
    batches by event-loop tick, compiled operations all children at once): see `_load_group`.
    """
    if len(keys) == 1:  # most batches (a 1-bar query's): no grouping to do
        (key,) = keys
        return [_outcome(await _load_group(load, group_of(key), [key.symbol]), key, missing)]
    groups: dict[G, list[str]] = {}
    for key in keys:
        groups.setdefault(group_of(key), []).append(key.symbol)
    if len(groups) == 1:  # the common case: no task per group, no group looked up per key
        ((group, symbols),) = groups.items()
        found = await _load_group(load, group, list(dict.fromkeys(symbols)))
        return [_outcome(found, key, missing) for key in keys]
    loaded = await asyncio.gather(
        *(_load_group(load, group, list(dict.fromkeys(s))) for group, s in groups.items())
    )
    results = dict(zip(groups, loaded, strict=True))
    return [_outcome(results[group_of(key)], key, missing) for key in keys]


def _outcome(found: dict[str, Any] | Exception, key: SymbolKey, missing: Callable[[], Any]) -> Any:
    """A key's item of its group's values: the group's error, its value, or `missing()`."""
    if isinstance(found, Exception):
        return found
    value = found.get(key.symbol, None)
    return missing() if value is None else value


async def _load_group(
    load: Callable[[G, list[str]], Awaitable[dict[str, Any]]], group: G, symbols: list[str]
) -> dict[str, Any] | Exception:
    """One group's values by symbol, or the error that fails all of them.

    A ServiceError (database unreachable, statement timeout) is every symbol's. Any other
    error is a statement that failed on some symbol's data (a sum overflowing, say): each
    symbol is then read alone, so one symbol's bad rows fail that symbol only and the others
    answer as they would have alone. That costs a statement per symbol, on failure only.
    """
    try:
        return await load(group, symbols)
    except ServiceError as error:
        return error
    except Exception as error:
        if len(symbols) == 1:
            return error
    alone = await asyncio.gather(*(load(group, [s]) for s in symbols), return_exceptions=True)
    merged: dict[str, Any] = {}
    for symbol, outcome in zip(symbols, alone, strict=True):
        if isinstance(outcome, dict):
            merged.update(outcome)
        elif isinstance(outcome, Exception):
            merged[symbol] = outcome
        else:
            raise outcome  # cancellation and exits are not a symbol's outcome
    return merged


def _split(rows: list[asyncpg.Record], symbols: list[str]) -> dict[str, list[asyncpg.Record]]:
    """Rows of one statement per symbol (they come grouped by symbol, in the order asked)."""
    if len(symbols) == 1:
        return {symbols[0]: rows}
    found = {symbol: list(group) for symbol, group in groupby(rows, key=_SYMBOL)}
    return {symbol: found.get(symbol, []) for symbol in symbols}


def _batched(
    group_of: Callable[[Any], Any],
    load: Callable[[Any, list[str]], Awaitable[dict[str, Any]]],
    missing: Callable[[], Any],
) -> Callable[[list[Any]], Awaitable[list[Any]]]:
    async def batch(keys: list[Any]) -> list[Any]:
        return await _grouped(keys, group_of, load, missing)

    return batch


class Loaders:
    """The loaders of one request, each made when first asked for (most requests use one of
    the four, and making all four cost 2 % of a 1-bar request)."""

    __slots__ = ("_aggregate", "_bars", "_latest", "_sources", "_symbol")

    def __init__(self, sources: _Sources) -> None:
        self._sources = sources
        self._bars: BatchLoader[BarsKey, list[asyncpg.Record]] | None = None
        self._latest: BatchLoader[LatestKey, asyncpg.Record | None] | None = None
        self._aggregate: BatchLoader[AggregateKey, WindowSummary | None] | None = None
        self._symbol: BatchLoader[str, SymbolInfo | None] | None = None

    @classmethod
    def create(
        cls,
        reads: ReadRoute,
        fetch: FetchGate,
        seen: NewestBarTimes | None = None,
        *,
        chunk: timedelta | None = None,
        rollup_tails: bool = True,
    ) -> Loaders:
        """Loaders reading where `reads` routes them, fetching misses first where `fetch`
        allows (a fetch that stored bars sends the reads after it to the primary). With
        `seen`, reads of the newest base bars start from a recent horizon
        (storage/newest_bars.py) and teach it. `chunk`: `bars` is a hypertable cut at that
        interval; reads of base bars from a time also name that time's chunk
        (storage/bar_chunks.py), and symbols never seen are read apart from those with a
        horizon. `rollup_tails=False`: the rollups are portable, and rollup reads leave out their
        always empty tail (storage/rollup_reads.py)."""
        return cls(_Sources(reads, fetch, seen, chunk, rollup_tails))

    @property
    def bars(self) -> BatchLoader[BarsKey, list[asyncpg.Record]]:
        if self._bars is None:
            self._bars = BatchLoader(_batched(_rest, self._sources.bars, list))
        return self._bars

    @property
    def latest(self) -> BatchLoader[LatestKey, asyncpg.Record | None]:
        if self._latest is None:
            self._latest = BatchLoader(_batched(_timeframe, self._sources.latest, _none))
        return self._latest

    @property
    def aggregate(self) -> BatchLoader[AggregateKey, WindowSummary | None]:
        if self._aggregate is None:
            self._aggregate = BatchLoader(_batched(_rest, self._sources.aggregate, _none))
        return self._aggregate

    @property
    def symbol(self) -> BatchLoader[str, SymbolInfo | None]:
        if self._symbol is None:
            self._symbol = BatchLoader(self._sources.symbols)
        return self._symbol


class _Sources:
    """What the loaders' batch functions read through. Kept apart from `Loaders` so that no
    batch function refers back to the loaders holding it: a request's loaders are then freed
    by reference counting when it ends, not left as cyclic garbage for the collector (22
    objects a request, which made its collections a tenth of a small request's CPU)."""

    __slots__ = ("_chunk", "_fetch", "_reads", "_seen", "_tails")

    def __init__(
        self,
        reads: ReadRoute,
        fetch: FetchGate,
        seen: NewestBarTimes | None,
        chunk: timedelta | None,
        rollup_tails: bool,
    ) -> None:
        self._reads = reads
        self._fetch = fetch
        self._seen = seen
        self._chunk = chunk
        self._tails = rollup_tails

    async def bars(self, group: tuple[Any, ...], symbols: list[str]) -> dict[str, Any]:
        tf, start, end, limit, order, columns, min_quality = group
        failed = await self._fetch.ensure(symbols, tf, start, end)
        seen, chunk = self._seen, self._chunk
        # the newest bars, or (where `bars` is chunked) those before `end`: a chart paging
        # back; on a plain table each page's bound would only be one more statement text
        newest = order == "desc" and start is None and tf in BASE_TIMEFRAMES
        if seen is not None and newest and (end is None or chunk is not None):
            rows = await self._reads.read(
                lambda pool: newest_bars(
                    pool,
                    symbols,
                    tf,
                    limit,
                    seen,
                    end=end,
                    columns=columns,
                    min_quality=min_quality,
                    chunk=chunk,
                )
            )
        else:
            since = None
            if chunk is not None and start is not None and tf in BASE_TIMEFRAMES:
                since = chunk_start(start, chunk)
            tails = self._tails
            rows = await self._reads.read(
                lambda pool: fetch_bars(
                    pool,
                    symbols,
                    tf,
                    start,
                    end,
                    limit=limit,
                    order=order,
                    columns=columns,
                    min_quality=min_quality,
                    since=since,
                    rollup_tails=tails,
                )
            )
        return {**_split(rows, symbols), **failed}

    async def latest(self, tf: Timeframe, symbols: list[str]) -> dict[str, Any]:
        seen = self._seen
        if seen is not None and tf in BASE_TIMEFRAMES:
            chunk = self._chunk
            rows = await self._reads.read(
                lambda pool: newest_bars(pool, symbols, tf, 1, seen, chunk=chunk)
            )
            return {row["symbol"]: row for row in rows}
        tails = self._tails
        return dict(
            await self._reads.read(lambda pool: latest_bars(pool, symbols, tf, rollup_tails=tails))
        )

    async def aggregate(self, group: tuple[Any, ...], symbols: list[str]) -> dict[str, Any]:
        start, end, basis = group
        failed = await self._fetch.ensure(symbols, basis, start, end)
        tails = self._tails
        found = await self._reads.read(
            lambda pool: window_summary(pool, symbols, start, end, base=basis, rollup_tails=tails)
        )
        return {**found, **failed}

    async def symbols(self, keys: list[str]) -> list[SymbolInfo | None]:
        unique = list(dict.fromkeys(keys))
        found = await self._reads.read(lambda pool: lookup_symbols(pool, unique))
        return [found.get(k) for k in keys]


def _rest(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Everything but the symbol: keys equal here share one statement."""
    return key[1:]


def _timeframe(key: LatestKey) -> Timeframe:
    return key.timeframe


def _none() -> None:
    return None
