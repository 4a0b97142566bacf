"""Backfill: fetch a long span for several tickers through the read-through store, in chunks.

Chunks keep each upstream request to about one Polygon page (a month of minutes is at most
44,640 bars, a page holds 50,000), keep each write transaction modest, and let a CLI show
progress. Covered chunks cost one coverage query, so re-running a backfill resumes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from domain.errors import ServiceError, UpstreamConfigError
from domain.timeframes import Timeframe, base_of, parse_timeframe
from resolvers import validation
from resolvers.read_through import ReadThrough
from storage.coverage import Span

Progress = Callable[[str, int, int], None]  # (ticker, chunks done, chunks in total)


@dataclass(frozen=True, slots=True)
class BackfillReport:
    """What a backfill did; a ticker in `errors` stopped at its first failed chunk."""

    tickers: tuple[str, ...]
    chunks: int  # chunks completed, over all tickers
    fetched_ranges: int
    bars_stored: int
    errors: dict[str, ServiceError] = field(default_factory=dict)

    @property
    def succeeded(self) -> tuple[str, ...]:
        return tuple(t for t in self.tickers if t not in self.errors)


def _next_boundary(base: Timeframe, t: datetime) -> datetime:
    t = t.astimezone(UTC)
    if base is Timeframe.M1:
        return datetime(t.year + t.month // 12, t.month % 12 + 1, 1, tzinfo=UTC)
    return datetime(t.year + 1, 1, 1, tzinfo=UTC)


def chunks(base: Timeframe, start: datetime, end: datetime) -> list[Span]:
    """[start, end) cut at UTC month starts for minute bars, at year starts for daily bars."""
    out: list[Span] = []
    lower = start
    while lower < end:
        upper = min(end, _next_boundary(base, lower))
        out.append((lower, upper))
        lower = upper
    return out


async def backfill(
    read_through: ReadThrough,
    tickers: Sequence[str],
    timeframe: Timeframe | str,
    start: datetime,
    end: datetime,
    *,
    on_progress: Progress | None = None,
) -> BackfillReport:
    """Make the store cover [start, end) of `timeframe` for each ticker, oldest chunk first.

    Chunk by chunk, every ticker's chunk is stored before the rollups are materialized, once per
    chunk: TimescaleDB invalidates by time only, so materializing after each ticker would redo
    the other tickers' buckets of the chunk (storage/rollup_batch.py). Tickers run one after
    another within a chunk (the Polygon rate limit is the bottleneck);
    `on_progress(ticker, done, total)` is called with 0 before the first chunk and after each
    chunk. A failure stops that ticker and is reported; the others continue.
    Raises InvalidInput for bad arguments and UpstreamConfigError without a Polygon API key.
    """
    tf = parse_timeframe(timeframe)
    unique = validation.tickers(tickers)
    validation.bounded_range(start, end, "a backfill")
    if not read_through.enabled:
        raise UpstreamConfigError("backfill needs a Polygon API key; set POLYGON_API_KEY")
    parts = chunks(base_of(tf), start, end)
    done = fetched = stored = 0
    errors: dict[str, ServiceError] = {}
    rollups = read_through.rollup_batch()
    if on_progress:
        for ticker in unique:
            on_progress(ticker, 0, len(parts))
    for index, (lower, upper) in enumerate(parts, 1):
        active = [t for t in unique if t not in errors]
        try:
            for ticker in active:
                result = await read_through.ensure([ticker], tf, lower, upper, rollups=rollups)
                fetched += result.fetched_ranges
                stored += result.bars_stored
                if ticker in result.errors:
                    errors[ticker] = result.errors[ticker]
        finally:  # what was stored is materialized, whatever stopped the chunk
            await rollups.flush()
        for ticker in active:
            if ticker not in errors:
                done += 1
                if on_progress:
                    on_progress(ticker, index, len(parts))
    return BackfillReport(tuple(unique), done, fetched, stored, errors)
