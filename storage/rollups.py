"""Keeping coarse timeframes right after every write of base bars, whichever backend answers.

Portable backend (here): the touched buckets of each level are recomputed bottom-up from the
level below, inside the writer's transaction, so they commit (or roll back) with the base bars.
Continuous aggregates (storage/caggs.py): the writer records the touched ranges in
`rollup_pending` in its transaction and materializes them right after the commit;
`drain_pending` at start-up finishes whatever a crash interrupted. Background refresh policies
are only a safety net; correctness never depends on them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.timeframes import (
    ROLLUPS,
    Rollup,
    Timeframe,
    bucket_end,
    bucket_start,
    levels_from,
)
from storage.pool import Conn

_WEEK_ORIGIN = "timestamptz '2000-01-03 00:00:00+00'"  # a Monday, as time_bucket uses


def bucket_sql(rollup: Rollup, column: str) -> str:
    """SQL for the start of `column`'s bucket, identical to time_bucket's default alignment."""
    if rollup.timeframe is Timeframe.MO1:
        return f"date_trunc('month', {column}, 'UTC')"
    return f"date_bin(interval '{rollup.width}', {column}, {_WEEK_ORIGIN})"


def portable_refresh_sql(rollup: Rollup) -> str:
    """One statement recomputing the buckets of one portable rollup inside given ranges.

    Parameters are parallel arrays (symbol, lo, hi) of bucket-aligned ranges, so each range is
    one index range scan of the level below.
    """
    if rollup.source in (Timeframe.M1, Timeframe.D1):
        source = f"bars s ON s.timeframe = '{rollup.source.value}' AND"
        turnover = "sum(s.vwap * s.volume)"
        vwap_volume = "sum(CASE WHEN s.vwap IS NULL THEN NULL ELSE s.volume END)"
        bar_count = "count(*)"
    else:
        below = next(r for r in ROLLUPS if r.timeframe is rollup.source)
        source = f"{below.relation} s ON"
        turnover, vwap_volume = "sum(s.turnover)", "sum(s.vwap_volume)"
        bar_count = "sum(s.bar_count)"
    bucket = bucket_sql(rollup, "s.time")
    return f"""
        INSERT INTO {rollup.relation} AS r (symbol, time, open, high, low, close, volume,
            turnover, vwap_volume, trades, bar_count, quality_score, gap_detected, volume_anomaly)
        SELECT s.symbol, {bucket},
               (array_agg(s.open ORDER BY s.time))[1], max(s.high), min(s.low),
               (array_agg(s.close ORDER BY s.time DESC))[1], sum(s.volume),
               {turnover}, {vwap_volume}, sum(s.trades), {bar_count},
               min(s.quality_score), bool_or(s.gap_detected), bool_or(s.volume_anomaly)
        FROM unnest($1::text[], $2::timestamptz[], $3::timestamptz[]) AS t(symbol, lo, hi)
        JOIN {source} s.symbol = t.symbol AND s.time >= t.lo AND s.time < t.hi
        GROUP BY s.symbol, {bucket}
        ON CONFLICT (symbol, time) DO UPDATE SET
            open = EXCLUDED.open, high = EXCLUDED.high, low = EXCLUDED.low,
            close = EXCLUDED.close, volume = EXCLUDED.volume, turnover = EXCLUDED.turnover,
            vwap_volume = EXCLUDED.vwap_volume, trades = EXCLUDED.trades,
            bar_count = EXCLUDED.bar_count, quality_score = EXCLUDED.quality_score,
            gap_detected = EXCLUDED.gap_detected, volume_anomaly = EXCLUDED.volume_anomaly
        """


def bucket_ranges(
    timeframe: Timeframe, buckets: set[tuple[str, datetime]]
) -> tuple[list[str], list[datetime], list[datetime]]:
    """Per symbol, runs of adjacent buckets merged into [lo, hi) ranges, as parallel arrays."""
    out_s: list[str] = []
    out_lo: list[datetime] = []
    out_hi: list[datetime] = []
    for symbol, start in sorted(buckets):
        if out_s and out_s[-1] == symbol and out_hi[-1] == start:
            out_hi[-1] = bucket_end(timeframe, start)
        else:
            out_s.append(symbol)
            out_lo.append(start)
            out_hi.append(bucket_end(timeframe, start))
    return out_s, out_lo, out_hi


async def refresh_portable(
    conn: Conn, base: Timeframe, symbols: Sequence[str], times: Sequence[datetime]
) -> None:
    """Recompute, bottom-up, every bucket of every level that holds one of the written bars.

    Each level's touched buckets are derived from the level below's (buckets nest), so the
    per-bar work happens once, for the first level.
    """
    touched: dict[Timeframe, set[tuple[str, datetime]]] = {
        base: set(zip(symbols, times, strict=True))
    }
    for rollup in levels_from(base):
        buckets = {(s, bucket_start(rollup.timeframe, t)) for s, t in touched[rollup.source]}
        touched[rollup.timeframe] = buckets
        if buckets:
            await conn.execute(
                portable_refresh_sql(rollup), *bucket_ranges(rollup.timeframe, buckets)
            )
