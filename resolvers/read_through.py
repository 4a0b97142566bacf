"""Fetch-on-miss: make sure the store holds a range before it is read, fetching each hole once.

For every symbol the missing parts of the range (see storage/coverage.py) become date windows
fetched from Polygon. Single-flight twice over: in one process, a request whose windows overlap
a fetch already in flight waits for it (and gets its error if it fails); across processes, each
fetch runs under a PostgreSQL advisory lock per (symbol, base timeframe) and re-reads coverage
once it holds the lock, so a range another worker just stored is not fetched again.

Bars are stored page by page as upstream sends them, through `upsert_bars` (one transaction per
page, rollups refreshed on either backend), so memory holds one page however long the range;
bars outside the window asked for are dropped, never stored. Only after the last page is the
window recorded as covered: a failed fetch marks nothing (pages stored before the failure are
real bars and stay; the window is fetched again next time), and coverage never claims bars
that are not stored. Each request's upstream work is bounded by a `FetchBudget`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import asyncpg

from domain.clocks import WallClock, utc_now
from domain.errors import InvalidInput, ServiceError, UpstreamConfigError, UpstreamUnavailable
from domain.timeframes import Timeframe, base_of, parse_timeframe
from resolvers import validation
from resolvers.fetch_budget import FetchBudget, FetchLimits, UpstreamBudgetSpent
from storage import coverage
from storage.bars_read import neighbours
from storage.bars_write import BarIn, upsert_bars
from storage.coverage import FetchWindow, Span
from storage.features import RollupBackend
from storage.pool import Conn
from storage.quality import VOLUME_WINDOW, assess_series
from storage.rollup_batch import RollupBatch
from upstream.polygon import PolygonClient
from upstream.wire import PolygonBar

log = logging.getLogger(__name__)

_TIMESPAN = {Timeframe.M1: (1, "minute"), Timeframe.D1: (1, "day")}


@dataclass(frozen=True, slots=True)
class EnsureResult:
    """What one `ensure` call did: fetches made or waited on, bars they stored, failures."""

    fetched_ranges: int  # upstream range fetches this call made or waited on
    bars_stored: int
    errors: dict[str, ServiceError]  # per symbol that failed (the others succeeded)


@dataclass(frozen=True, slots=True)
class _Outcome:
    fetched_ranges: int = 0
    bars_stored: int = 0

    def __add__(self, other: _Outcome) -> _Outcome:
        return _Outcome(
            self.fetched_ranges + other.fetched_ranges, self.bars_stored + other.bars_stored
        )


@dataclass(frozen=True, slots=True, eq=False)
class _Flight:
    """A fetch in flight: the spans its windows cover and the task doing it."""

    spans: tuple[Span, ...]
    task: asyncio.Task[_Outcome]


class ReadThrough:
    """The store with fetch-on-miss; `enabled` is False without a Polygon client (no API key).

    `upstream_delay` is how far behind real time upstream may still change bars (15 minutes on
    Polygon's delayed plans): bar periods starting after `now - upstream_delay` count as open
    and are fetched again once `freshness_ttl` seconds have passed. Each fetch holds two pool
    connections (the lock and the write), so at most `max_concurrent_fetches` run at once
    (default: half the pool, less one connection kept for readers; at least one). `limits`
    bound what one request may fetch (see resolvers/fetch_budget.py); `on_stored(symbol)` is
    called once bars for `symbol` have been stored.
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        backend: RollupBackend,
        client: PolygonClient | None,
        *,
        freshness_ttl: float = 60.0,
        upstream_delay: float = 900.0,
        max_concurrent_fetches: int | None = None,
        limits: FetchLimits | None = None,
        clock: WallClock = utc_now,
        on_stored: Callable[[str], None] | None = None,
    ) -> None:
        if freshness_ttl < 0 or upstream_delay < 0:
            raise ValueError("freshness_ttl and upstream_delay must be >= 0")
        slots = max_concurrent_fetches or max(1, (pool.get_max_size() - 1) // 2)
        if client is not None and (slots < 1 or 2 * slots > pool.get_max_size()):
            raise ValueError(
                f"{slots} concurrent fetch(es) need {2 * slots} pool connections (a lock and a"
                f" write each); the pool has {pool.get_max_size()}"
            )
        self._pool = pool
        self._backend = backend
        self._client = client
        self._ttl = timedelta(seconds=freshness_ttl)
        self._delay = timedelta(seconds=upstream_delay)
        self._clock = clock
        self._on_stored = on_stored
        self.limits = limits or FetchLimits()
        self._slots = asyncio.Semaphore(slots)
        self._flights: dict[tuple[str, Timeframe], list[_Flight]] = {}

    @property
    def enabled(self) -> bool:
        """Whether misses are fetched at all (False without a Polygon API key)."""
        return self._client is not None

    def rollup_batch(self) -> RollupBatch:
        """A batch for `ensure(..., rollups=)`: writes to materialize together, later."""
        return RollupBatch(self._pool)

    async def aclose(self) -> None:
        """Cancel fetches still in flight (at shutdown); nothing half-done is stored."""
        tasks: list[asyncio.Task[Any]] = [f.task for fs in self._flights.values() for f in fs]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- bars ---------------------------------------------------------------------------------

    async def ensure(
        self,
        symbols: Sequence[str],
        timeframe: Timeframe | str,
        start: datetime,
        end: datetime,
        *,
        budget: FetchBudget | None = None,
        rollups: RollupBatch | None = None,
    ) -> EnsureResult:
        """Fetch what the store lacks of [start, end) (clipped to now) for each symbol.

        Symbols are fetched concurrently; an upstream failure of one lands in `errors` and the
        others still complete. Bad arguments raise InvalidInput, and so does asking for more
        than `budget` (the request's; a fresh one per call without it) allows: more symbols or
        a longer missing span than the limits, refused before anything is fetched. With
        `rollups`, the fetches this call launches leave their continuous-aggregate refresh to
        `rollups.flush()` (a backfill materializes a whole window once).
        """
        tf = parse_timeframe(timeframe)
        unique = validation.tickers(symbols)
        validation.bounded_range(start, end, "fetching")
        now = self._clock()
        first, after = coverage.whole_buckets(tf, start, end)
        span = (first, min(after, now))
        if self._client is None or span[0] >= span[1]:
            return EnsureResult(0, 0, {})
        base = base_of(tf)
        budget = budget or FetchBudget(self.limits)
        found = await asyncio.gather(
            *(
                coverage.holes(self._pool, symbol, base, span, now=now, ttl=self._ttl)
                for symbol in unique
            )
        )
        missing = {symbol: holes for symbol, holes in zip(unique, found, strict=True) if holes}
        for symbol, holes in missing.items():
            self.limits.check_span(symbol, base, sum((e - s for s, e in holes), timedelta()))
        budget.claim_symbols(missing)
        results = await asyncio.gather(
            *(
                self._ensure_one(symbol, base, span, now, budget, holes, rollups)
                for symbol, holes in missing.items()
            ),
            return_exceptions=True,
        )
        total, errors = _Outcome(), {}
        for symbol, result in zip(missing, results, strict=True):
            if isinstance(result, ServiceError):
                errors[symbol] = result
            elif isinstance(result, BaseException):
                raise result
            else:
                total += result
        return EnsureResult(total.fetched_ranges, total.bars_stored, errors)

    async def _ensure_one(
        self,
        symbol: str,
        base: Timeframe,
        span: Span,
        now: datetime,
        budget: FetchBudget,
        missing: list[Span] | None,
        rollups: RollupBatch | None = None,
    ) -> _Outcome:
        """Wait for overlapping fetches in flight, then fetch what is still missing.

        A flight that failed on its own request's budget is no reason to fail this one: what
        it left is fetched on this request's budget instead.
        """
        key = (symbol, base)
        waited: list[Span] = []
        total = _Outcome()
        while True:
            if missing is None:
                missing = await coverage.holes(
                    self._pool, symbol, base, span, now=now, ttl=self._ttl, also_covered=waited
                )
            if not missing:
                return total
            windows = coverage.fetch_windows(symbol, missing)
            busy = [
                flight
                for flight in self._flights.get(key, ())
                if any(coverage.overlaps(s, w.span) for s in flight.spans for w in windows)
            ]
            if not busy:  # no await since `self._flights` was read: nobody else can start one
                flight = self._launch(key, windows, budget, rollups)
                return total + await asyncio.shield(flight.task)
            for flight in busy:
                try:
                    total += await asyncio.shield(flight.task)
                except UpstreamBudgetSpent:
                    continue
                waited.extend(flight.spans)
            missing = None

    def _launch(
        self,
        key: tuple[str, Timeframe],
        windows: list[FetchWindow],
        budget: FetchBudget,
        rollups: RollupBatch | None,
    ) -> _Flight:
        task = asyncio.create_task(self._fetch(*key, windows, budget, rollups))
        flight = _Flight(tuple(w.span for w in windows), task)
        self._flights.setdefault(key, []).append(flight)
        task.add_done_callback(partial(self._landed, key, flight))
        return flight

    def _landed(self, key: tuple[str, Timeframe], flight: _Flight, task: asyncio.Task[Any]) -> None:
        flights = self._flights[key]
        flights.remove(flight)
        if not flights:
            del self._flights[key]
        if not task.cancelled():
            task.exception()  # its waiters got it; mark it retrieved even if none are left

    async def _fetch(
        self,
        symbol: str,
        base: Timeframe,
        windows: list[FetchWindow],
        budget: FetchBudget,
        rollups: RollupBatch | None,
    ) -> _Outcome:
        """Fetch `windows` under the cross-process lock, skipping what is covered by then."""
        async with (
            self._slots,
            self._pool.acquire() as conn,
            coverage.fetch_lock(conn, symbol, base),
        ):
            total = _Outcome()
            for window in windows:
                now = self._clock()
                missing = [
                    hole
                    for wanted in window.wanted
                    for hole in await coverage.holes(
                        conn, symbol, base, wanted, now=now, ttl=self._ttl
                    )
                ]
                for narrowed in coverage.fetch_windows(symbol, missing):
                    total += await self._fetch_window(conn, symbol, base, narrowed, budget, rollups)
            return total

    async def _fetch_window(
        self,
        conn: Conn,
        symbol: str,
        base: Timeframe,
        window: FetchWindow,
        budget: FetchBudget,
        rollups: RollupBatch | None,
    ) -> _Outcome:
        """Fetch one window page by page, storing each page's bars inside the window."""
        if self._client is None:  # only launched when enabled
            raise UpstreamConfigError("fetch-on-miss is disabled")
        multiplier, timespan = _TIMESPAN[base]
        asked_at, started = self._clock(), time.perf_counter()
        cut = coverage.period_start(base, symbol, asked_at - self._delay)
        kept, changed, dropped = [0, 0], 0, 0  # kept: bars before the cut, bars from it
        pages = self._client.aggregate_pages(
            symbol, multiplier, timespan, window.first, window.last,
            before_request=budget.spend_call,
        )  # fmt: skip
        async with contextlib.aclosing(pages):
            async for page in pages:
                inside = [bar for bar in page if window.start <= bar.time < window.end]
                dropped += len(page) - len(inside)
                try:
                    changed += await self._store(conn, symbol, base, inside, rollups)
                except InvalidInput as exc:  # e.g. a 1m bar off the minute: upstream nonsense
                    raise UpstreamUnavailable(
                        f"Polygon sent bars the store refuses: {exc}"
                    ) from exc
                for bar in inside:
                    kept[bar.time >= cut] += 1
        await coverage.record(
            conn, symbol, base, window.span, cut=cut, fetched_at=asked_at,
            bar_counts=(kept[0], kept[1]),
        )  # fmt: skip
        if dropped:
            log.warning(
                "Polygon sent %d %s %s bars outside %s..%s: dropped",
                dropped, symbol, base.value, window.first, window.last,
            )  # fmt: skip
        if changed and self._on_stored is not None:
            self._on_stored(symbol)  # e.g. drop cached answers that lack these bars
        log.info(
            "fetched %s %s %s..%s: %d bars (%d changed) in %.3fs",
            symbol, base.value, window.first, window.last, sum(kept), changed,
            time.perf_counter() - started,
        )  # fmt: skip
        return _Outcome(1, sum(kept))

    async def _store(
        self,
        conn: Conn,
        symbol: str,
        base: Timeframe,
        bars: Sequence[PolygonBar],
        rollups: RollupBatch | None,
    ) -> int:
        """Upsert `bars` with quality flags judged against the stored bars around them.

        The VOLUME_WINDOW stored bars after the batch are re-judged and rewritten too when
        their flags change, so the flags do not depend on the order ranges were fetched in.
        """
        if not bars:
            return 0
        by_time = {bar.time: bar for bar in bars}  # sorted, duplicates dropped (last wins)
        fresh = [
            BarIn(symbol, b.time, b.open, b.high, b.low, b.close, b.volume, b.vwap, b.trades)
            for b in (by_time[t] for t in sorted(by_time))
        ]
        rows = await neighbours(conn, symbol, base, fresh[0].time, fresh[-1].time, VOLUME_WINDOW)
        before = [_bar_in(symbol, r) for r in rows if not r["after"]]
        series = fresh + [_bar_in(symbol, r) for r in rows if r["after"]]
        judged = [
            bar._replace(
                gap_detected=q.gap_detected, volume_anomaly=q.volume_anomaly,
                quality_score=q.quality_score, validation_notes=q.validation_notes,
            )
            for bar, q in zip(series, assess_series(series, before), strict=True)
        ]  # fmt: skip
        return await upsert_bars(self._pool, base, judged, self._backend, batch=rollups)


def _bar_in(symbol: str, row: asyncpg.Record) -> BarIn:
    return BarIn(
        symbol, row["time"], row["open"], row["high"], row["low"], row["close"], row["volume"],
        row["vwap"], row["trades"], source=row["source"],
    )  # fmt: skip
