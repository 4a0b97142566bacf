"""The newest bars of base timeframes, read from a recent horizon first.

On TimescaleDB `bars` is a hypertable of chunks (7 days each unless the operator chose otherwise).
A read of the newest bars with no lower bound plans every chunk: the newest 1m bar of one symbol
cost 6.4 ms with 105 chunks (two years of daily bars), against 0.33 ms when the statement bounds
the time from a recent chunk's start (of the interval the database reports, storage/bar_chunks.py).
The bound is written into the statement as a literal, so that a cached generic plan excludes
the older chunks as well as a custom one (a parameter is known only to custom plans).

Which horizon holds a symbol's newest `limit` bars is learnt from earlier reads: each read
records the symbol's newest stored bar. The horizon is only a guess, and the answer never
depends on it: a symbol that has fewer than `limit` bars after the horizon is read again without
it. A symbol never seen is read without a horizon the first time. A page before a time (a
chart loading older bars) reckons its horizon from that time; the loaders ask for it only where
`bars` is a hypertable (resolvers/loaders.py).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import asyncpg

from domain.time_range import UNIX_EPOCH
from domain.timeframes import Timeframe
from storage.bar_chunks import WEEK, chunk_start
from storage.bars_read import fetch_bars
from storage.pool import Executor

KEPT = 50_000  # (symbol, timeframe) pairs remembered, least recently used forgotten first
_HORIZONS_KEPT = 4096  # horizons computed, by (newest bar, timeframe, limit, chunk); then anew
# How far back `limit` bars reach at most, per bar, in the usual case: stock minutes trade 6.5
# hours of 24 on weekdays; daily bars skip weekends and holidays.
_REACH_PER_BAR = {Timeframe.M1: timedelta(minutes=10), Timeframe.D1: timedelta(days=2)}


class Row(Protocol):
    """What `saw` reads of a row (an asyncpg.Record)."""

    def __getitem__(self, key: str, /) -> Any: ...


class NewestBarTimes:
    """The newest stored bar time of each (symbol, base timeframe) that reads have seen.

    A plain dict in the order entries were last written (every read writes what it read), the
    oldest dropped beyond `kept`, and each horizon computed once: a 1-bar read spends 0.8 µs
    here, against 3.4 µs with cachetools' LRUCache and the arithmetic on every read."""

    def __init__(self, kept: int = KEPT) -> None:
        self._kept = kept
        self._times: dict[tuple[str, Timeframe], datetime] = {}
        self._horizons: dict[tuple[datetime, Timeframe, int, timedelta], datetime | None] = {}

    def horizon(
        self,
        symbols: Sequence[str],
        timeframe: Timeframe,
        limit: int,
        before: datetime | None = None,
        chunk: timedelta = WEEK,
    ) -> datetime | None:
        """A boundary of `chunk`-long chunks after which each symbol likely has `limit` bars
        (before `before` when given); None when some symbol was never seen and no `before`
        stands in for it (or the reach goes back past 1970)."""
        times = self._times
        oldest = before
        for symbol in symbols:
            newest = times.get((symbol, timeframe))
            if newest is None:
                if before is None:
                    return None
            elif oldest is None or newest < oldest:
                oldest = newest
        if oldest is None:
            return None
        key = (oldest, timeframe, limit, chunk)
        try:  # computed once per newest bar: datetime arithmetic costs more than a lookup
            return self._horizons[key]
        except KeyError:
            if len(self._horizons) >= _HORIZONS_KEPT:
                self._horizons.clear()
            horizon = self._horizons[key] = _horizon(oldest, timeframe, limit, chunk)
            return horizon

    def known(self, symbols: Sequence[str], timeframe: Timeframe) -> list[str]:
        """Those of `symbols` whose newest bar is remembered, in their order."""
        times = self._times
        return [symbol for symbol in symbols if (symbol, timeframe) in times]

    def saw(self, symbols: Sequence[str], timeframe: Timeframe, rows: Sequence[Row]) -> None:
        """Record each symbol's newest bar from a read's rows (grouped by symbol, newest first);
        a symbol without rows is forgotten."""
        newest: dict[str, datetime] = {}
        if len(symbols) == 1:  # a 1-bar request's: no row to look at but the first
            if rows:
                newest[symbols[0]] = rows[0]["time"]
        else:
            for row in rows:
                newest.setdefault(row["symbol"], row["time"])
        times = self._times
        for symbol in symbols:
            key = (symbol, timeframe)
            times.pop(key, None)  # written again: the most recent, last in order
            time = newest.get(symbol)
            if time is not None:
                times[key] = time
        while len(times) > self._kept:
            del times[next(iter(times))]


def _horizon(
    newest: datetime, timeframe: Timeframe, limit: int, chunk: timedelta
) -> datetime | None:
    """The chunk boundary `limit` bars' usual reach before `newest` (None: before 1970)."""
    reach = _REACH_PER_BAR[timeframe] * limit
    if reach >= newest - UNIX_EPOCH:
        return None
    return chunk_start(newest - reach, chunk)


async def newest_bars(
    pool: Executor,
    symbols: Sequence[str],
    timeframe: Timeframe,
    limit: int,
    seen: NewestBarTimes,
    *,
    end: datetime | None = None,
    columns: Collection[str] | None = None,
    min_quality: float | None = None,
    chunk: timedelta | None = None,
) -> list[asyncpg.Record]:
    """`fetch_bars(..., end=end, limit=limit, order="desc")` of distinct `symbols` at a base
    timeframe: the same rows, read after the horizon `seen` suggests where that finds them all.
    With `end` (a chart paging back) the horizon is reckoned from it, or from a symbol's
    newest bar where that is older; only reads without `end` teach `seen`.

    `chunk`: the interval `bars` is cut at, where it is a hypertable (None: a plain table,
    whose horizons fall on weeks). Horizons fall on its boundaries, and symbols never seen, or
    without bars, are read in a statement of their own, so that the others keep their horizon:
    a watch list of 49 symbols and one ticker without bars cost 12.6 ms in one unbounded
    statement over 105 chunks, against 0.9 ms for the 49 from their horizon and 4.4 ms for
    the one alone."""
    since = seen.horizon(symbols, timeframe, limit, end, chunk or WEEK)
    if since is None and chunk is not None and end is None:
        known = seen.known(symbols, timeframe)
        if 0 < len(known) < len(symbols):  # each part read (and taught) on its own
            unseen = set(symbols).difference(known)
            rest = [symbol for symbol in symbols if symbol in unseen]
            known_rows = await newest_bars(pool, known, timeframe, limit, seen, columns=columns,
                                           min_quality=min_quality, chunk=chunk)  # fmt: skip
            rest_rows = await newest_bars(pool, rest, timeframe, limit, seen, columns=columns,
                                          min_quality=min_quality, chunk=chunk)  # fmt: skip
            return _merged(symbols, known_rows, rest_rows, unseen)
    rows = await fetch_bars(
        pool, symbols, timeframe, None, end, limit=limit, order="desc", columns=columns,
        min_quality=min_quality, since=since,
    )  # fmt: skip
    if since is not None and len(rows) < limit * len(symbols):  # some symbol came short
        found = Counter(row["symbol"] for row in rows)
        short = [symbol for symbol in symbols if found[symbol] < limit]
        again = await fetch_bars(
            pool, short, timeframe, None, end, limit=limit, order="desc", columns=columns,
            min_quality=min_quality,
        )  # fmt: skip
        rows = _merged(symbols, rows, again, set(short))
    if end is None:
        seen.saw(symbols, timeframe, rows)
    return rows


def _merged(
    symbols: Sequence[str],
    rows: list[asyncpg.Record],
    again: list[asyncpg.Record],
    replaced: set[str],
) -> list[asyncpg.Record]:
    """`rows`, with the groups of the `replaced` symbols taken from `again`, in symbol order."""
    groups: dict[str, list[asyncpg.Record]] = {}
    for row in rows:
        if row["symbol"] not in replaced:
            groups.setdefault(row["symbol"], []).append(row)
    for row in again:
        groups.setdefault(row["symbol"], []).append(row)
    return [row for symbol in symbols for row in groups.get(symbol, ())]
