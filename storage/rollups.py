"""Keeping coarse timeframes right after every write of base bars, whichever backend answers.

Portable backend: the touched buckets of each level are recomputed bottom-up from the level
below, inside the writer's transaction, so they commit (or roll back) with the base bars.
Continuous aggregates: refresh cannot run inside a transaction, so the writer records the touched
ranges in `rollup_pending` in its transaction, refreshes them bottom-up right after the commit,
then deletes the record; `drain_pending` at start-up finishes whatever a crash interrupted.
Background refresh policies only keep the aggregates warm; correctness never depends on them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

import asyncpg

from domain.timeframes import ROLLUPS, Rollup, Timeframe, bucket_end, bucket_start
from storage.pool import Conn

log = logging.getLogger(__name__)

_WEEK_ORIGIN = "timestamptz '2000-01-03 00:00:00+00'"  # a Monday, as time_bucket uses


def levels_from(base: Timeframe) -> list[Rollup]:
    """Rollups built (directly or through another rollup) on `base`, bottom-up."""
    order: list[Rollup] = []
    sources = {base}
    for rollup in ROLLUPS:  # ROLLUPS lists every level after its source
        if rollup.source in sources:
            order.append(rollup)
            sources.add(rollup.timeframe)
    return order


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


# Refreshing an aggregate over a stretch with no base bars costs next to nothing, while each
# refresh call has a fixed cost: so nights, weekends and holidays are merged over.
MAX_MERGED_GAP = timedelta(days=8)


def merged_ranges(
    times: Iterable[datetime], width: timedelta, max_gap: timedelta = MAX_MERGED_GAP
) -> list[tuple[datetime, datetime]]:
    """Cover `times` with few [start, end) ranges: neighbours up to `max_gap` apart merge."""
    ranges: list[tuple[datetime, datetime]] = []
    for t in sorted(set(times)):
        if ranges and t - ranges[-1][1] <= max_gap:
            ranges[-1] = (ranges[-1][0], t + width)
        else:
            ranges.append((t, t + width))
    return ranges


def _level_window(rollup: Rollup, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """The smallest window of whole buckets of `rollup` containing [start, end)."""
    first = bucket_start(rollup.timeframe, start)
    last = bucket_start(rollup.timeframe, end - timedelta(microseconds=1))
    return first, bucket_end(rollup.timeframe, last)


async def record_pending(
    conn: Conn, base: Timeframe, ranges: Sequence[tuple[datetime, datetime]]
) -> list[int]:
    """Inside the writer's transaction: remember which ranges need an aggregate refresh."""
    rows = await conn.fetch(
        "INSERT INTO rollup_pending (timeframe, range)"
        " SELECT $1, tstzrange(s, e) FROM unnest($2::timestamptz[], $3::timestamptz[]) AS u(s, e)"
        " RETURNING id",
        base.value,
        [r[0] for r in ranges],
        [r[1] for r in ranges],
    )
    return [r["id"] for r in rows]


# Whether a window starts below an aggregate's watermark, i.e. in its materialized part; above
# it, real-time aggregation already answers from the base bars. (TimescaleDB internals: when
# they cannot be read, every window is refreshed, which is always correct.)
_BELOW_WATERMARK = """
    SELECT $2::timestamptz < _timescaledb_functions.to_timestamp(
               _timescaledb_functions.cagg_watermark(mat_hypertable_id))
    FROM _timescaledb_catalog.continuous_agg WHERE user_view_name = $1
"""


async def _below_watermark(conn: Conn, relation: str, start: datetime) -> bool:
    try:
        below = await conn.fetchval(_BELOW_WATERMARK, relation, start)
    except asyncpg.PostgresError:
        return True
    return below is not False


async def refresh_caggs(
    conn: Conn, base: Timeframe, ranges: Sequence[tuple[datetime, datetime]]
) -> None:
    """Refresh, bottom-up, the buckets of every aggregate level that overlap `ranges`.

    Only windows reaching below a level's watermark need it (real-time aggregation covers the
    rest); a level refreshed means every level it is built from is refreshed first, since a
    refresh reads the materialized rows of the level below.
    """
    levels = levels_from(base)
    for start, end in ranges:
        windows = {r.timeframe: _level_window(r, start, end) for r in levels}
        needed = {
            r.timeframe
            for r in levels
            if await _below_watermark(conn, r.relation, windows[r.timeframe][0])
        }
        for rollup in reversed(levels):  # a needed level needs its sources
            if rollup.timeframe in needed:
                needed.add(rollup.source)
        for rollup in levels:
            if rollup.timeframe in needed:
                lo, hi = windows[rollup.timeframe]
                await conn.execute(
                    "CALL refresh_continuous_aggregate($1::regclass, $2::timestamptz,"
                    " $3::timestamptz)",
                    rollup.relation,
                    lo,
                    hi,
                )


async def drain_pending(conn: Conn, ids: Sequence[int] | None = None) -> int:
    """Refresh what `rollup_pending` lists (all of it, or just `ids`) and forget it."""
    query = "SELECT id, timeframe, lower(range) AS s, upper(range) AS e FROM rollup_pending"
    rows = await (
        conn.fetch(query + " WHERE id = ANY($1::bigint[]) ORDER BY id", list(ids))
        if ids is not None
        else conn.fetch(query + " ORDER BY id")
    )
    for row in rows:
        await refresh_caggs(conn, Timeframe(row["timeframe"]), [(row["s"], row["e"])])
    if rows:
        await conn.execute(
            "DELETE FROM rollup_pending WHERE id = ANY($1::bigint[])", [r["id"] for r in rows]
        )
    return len(rows)
