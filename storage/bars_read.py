"""The read API over base bars and rollups: one SQL statement for any number of symbols.

Which backend holds a rollup does not matter here: both offer the same names (`bars_5m` ...
`bars_1mo`, and the `_stored` views and watermark read through, see storage/rollup_reads.py).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from functools import cache, lru_cache

import asyncpg

from domain.records import BAR_COLUMN_SET, BAR_COLUMNS, Order, WindowSummary
from domain.timeframes import (
    BASE_TIMEFRAMES,
    ROLLUP_BY_TIMEFRAME,
    Timeframe,
    parse_timeframe,
    tiling_timeframe,
)
from storage.array_parameters import unnested
from storage.pool import Executor
from storage.rollup_reads import rollup_order, rollup_rows_sql
from storage.unavailable import idempotent_read

STATEMENTS_KEPT = 1024  # distinct bar statements remembered (shapes of requests)

# Weekly and monthly buckets are computed on UTC dates; for symbols that follow the New York
# exchange day they are labelled, like their daily bars, at midnight New York time.
_NY_LABEL = (
    "CASE WHEN r.symbol ~ '^[XC]:' THEN r.time"
    " ELSE (r.time AT TIME ZONE 'UTC') AT TIME ZONE 'America/New_York' END"
)
_PLAIN = ("open", "high", "low", "close", "volume", "trades", "quality_score", "gap_detected",
          "volume_anomaly")  # fmt: skip
_BASE_COLUMNS = {
    **{c: f"r.{c}" for c in (*_PLAIN, "vwap", "validation_notes", "source", "fetched_at")},
    "bar_count": "1::bigint",
}
_ROLLUP_COLUMNS = {
    **{c: f"r.{c}" for c in (*_PLAIN, "bar_count")},
    "vwap": "r.turnover / nullif(r.vwap_volume, 0)",
    "validation_notes": "NULL::text",
    "source": "NULL::text",
    "fetched_at": "NULL::timestamptz",
}


def _select(expressions: dict[str, str], label: str, columns: Collection[str] | None) -> str:
    """The select list: time always, then the wanted columns (all when None), in one order."""
    wanted = BAR_COLUMNS[2:] if columns is None else [c for c in BAR_COLUMNS if c in columns]
    return ", ".join(
        [f"{label} AS time", *(f"{expressions[c]} AS {c}" for c in wanted if c in expressions)]
    )


def _unnested(timeframe: Timeframe, *arrays: str) -> str:
    """The array parameters as rows; a read of a rollup keeps its cached plan, a read of base
    bars does not (storage/array_parameters.py says why)."""
    return unnested(*arrays, cached_plan=timeframe not in BASE_TIMEFRAMES)


def _symbols(timeframe: Timeframe) -> str:
    """The symbols of $1, one row each."""
    return _unnested(timeframe, "$1::text[]")


def _label(timeframe: Timeframe) -> str:
    return _NY_LABEL if timeframe in (Timeframe.W1, Timeframe.MO1) else "r.time"


def bars_sql(
    timeframe: Timeframe,
    order: Order,
    has_start: bool,
    has_end: bool,
    columns: Collection[str] | None = None,
    has_min_quality: bool = False,
    one_symbol: bool = False,
    since: datetime | None = None,
    rollup_tails: bool = True,
) -> str:
    """The statement behind `fetch_bars`; exposed for EXPLAIN and statement counting.

    Parameters: $1 symbols, $2 limit, then start, end and the minimum quality score when
    given. Open bounds are left out of the SQL rather than written as ±infinity, which
    TimescaleDB's real-time aggregates mishandle.

    `since`: a lower bound on the stored time, written into the statement as a literal, so that
    TimescaleDB leaves older chunks out of every plan, generic or custom (storage/bar_chunks.py,
    storage/newest_bars.py).

    `rollup_tails=False`: the rollups are portable, and a rollup read leaves out their tail,
    which is always empty (storage/rollup_reads.py).

    `one_symbol` (base timeframes only): $1 is one symbol, and the statement is the plain
    index scan, without the unnest, lateral join and sort that many symbols need. The common
    1-bar query then costs the server what a hand-written one does (measured: 117 µs a
    statement against 159 µs, the bare `SELECT ... WHERE symbol = $1` 128 µs).
    """
    label = _label(timeframe)
    direction = "ASC" if order == "asc" else "DESC"
    conditions = []
    if since is not None:  # a datetime's own text: nothing a caller wrote reaches the SQL
        if not isinstance(since, datetime) or since.tzinfo is None:
            raise ValueError(f"since must be an aware datetime, got {since!r}")
        conditions.append(f"r.time >= '{since.isoformat()}'::timestamptz")
    if has_start:
        # The label of a relabelled bucket is at most a day after its stored start.
        slack = " - interval '1 day'" if label != "r.time" else ""
        conditions.append(f"r.time >= $3::timestamptz{slack} AND {label} >= $3")
    if has_end:
        end = f"${3 + has_start}"
        conditions.append(f"r.time < {end} AND {label} < {end}")
    if has_min_quality:
        # real, as stored: a bar scoring exactly the threshold passes it
        conditions.append(f"r.quality_score >= ${3 + has_start + has_end}::real")
    where = "".join(f" AND {c}" for c in conditions)
    order_limit = f"ORDER BY r.time {direction} LIMIT $2"
    if timeframe in BASE_TIMEFRAMES:
        select = _select(_BASE_COLUMNS, label, columns)
        if one_symbol:
            return f"""
                SELECT $1::text AS symbol, {select}
                FROM bars r WHERE r.timeframe = '{timeframe.value}' AND r.symbol = $1::text{where}
                {order_limit}
            """
        source = f"bars r WHERE r.timeframe = '{timeframe.value}' AND r.symbol = s.symbol{where}"
    else:
        if one_symbol:
            raise ValueError("one_symbol is for base timeframes only")
        select = _select(_ROLLUP_COLUMNS, label, columns)
        rows = rollup_rows_sql(
            ROLLUP_BY_TIMEFRAME[timeframe], where, direction, "$2", tail=rollup_tails
        )
        source = f"{rows} r"
        order_limit = f"{rollup_order(direction)} LIMIT $2"
    return f"""
        SELECT s.symbol, b.*
        FROM {_symbols(timeframe)} WITH ORDINALITY AS s(symbol, ord)
        CROSS JOIN LATERAL (
            SELECT {select}
            FROM {source}
            {order_limit}
        ) b
        ORDER BY s.ord, b.time {direction}
    """


@cache
def ranges_sql(timeframe: Timeframe) -> str:
    """Every column of the bars stored in many (symbol, lo, hi) ranges, lo <= time <= hi on
    the stored bucket start. Parameters: parallel arrays $1 symbols, $2 lo, $3 hi (ranges of
    one symbol must not overlap). Rows come ordered by symbol, then time. Made once per
    timeframe, not on each live read."""
    label = _label(timeframe)
    where = " AND r.time >= s.lo AND r.time <= s.hi"
    if timeframe in BASE_TIMEFRAMES:
        select = _select(_BASE_COLUMNS, label, None)
        source = f"bars r WHERE r.timeframe = '{timeframe.value}' AND r.symbol = s.symbol{where}"
    else:
        select = _select(_ROLLUP_COLUMNS, label, None)
        source = f"{rollup_rows_sql(ROLLUP_BY_TIMEFRAME[timeframe], where)} r"
    ranges = _unnested(timeframe, "$1::text[]", "$2::timestamptz[]", "$3::timestamptz[]")
    return f"""
        SELECT s.symbol, b.*
        FROM {ranges} AS s(symbol, lo, hi)
        CROSS JOIN LATERAL (SELECT {select} FROM {source}) b
        ORDER BY s.symbol, b.time
    """


_statement = lru_cache(maxsize=STATEMENTS_KEPT)(bars_sql)
"""`bars_sql` made once per shape of request, not per request (its arguments name a shape:
timeframe, order, which bounds, which columns), as a prepared statement is kept per text."""


@idempotent_read
async def fetch_bars(
    pool: Executor,
    symbols: Sequence[str],
    timeframe: Timeframe | str,
    start: datetime | None = None,
    end: datetime | None = None,
    *,
    limit: int = 1000,
    order: Order = "asc",
    columns: Collection[str] | None = None,
    min_quality: float | None = None,
    since: datetime | None = None,
    rollup_tails: bool = True,
) -> list[asyncpg.Record]:
    """Bars of each symbol with start ≤ time < end (and a quality score of at least
    `min_quality` when given), at most `limit` per symbol. `since` bounds the stored time as
    well, as a literal (few distinct values: each makes a statement of its own).
    `rollup_tails=False` where the rollups are portable (see `bars_sql`).

    Rows come grouped by symbol in the order given, each group ordered by time in `order`
    (with `desc`, the newest `limit` bars). Columns are BAR_COLUMNS, or `symbol`, `time` and
    those of `columns` (reading fewer columns is faster for big answers).
    """
    tf = parse_timeframe(timeframe)
    # the arguments were validated by the service layer; these two shape the SQL text itself
    if order not in ("asc", "desc"):
        raise ValueError(f"order must be 'asc' or 'desc', got {order!r}")
    if columns is not None:
        columns = frozenset(columns)
        if not columns <= BAR_COLUMN_SET:
            raise ValueError(f"unknown columns: {sorted(columns - BAR_COLUMN_SET)}")
    extra = [v for v in (start, end, min_quality) if v is not None]
    one = len(symbols) == 1 and tf in BASE_TIMEFRAMES
    sql = _statement(
        tf, order, start is not None, end is not None, columns, min_quality is not None, one,
        since, rollup_tails,
    )  # fmt: skip
    return await pool.fetch(sql, symbols[0] if one else list(symbols), limit, *extra)


@idempotent_read
async def latest_bars(
    pool: Executor,
    symbols: Sequence[str],
    timeframe: Timeframe | str,
    *,
    rollup_tails: bool = True,
) -> dict[str, asyncpg.Record]:
    """The newest bar of each symbol that has one (`rollup_tails`: see `bars_sql`)."""
    rows = await fetch_bars(
        pool, symbols, timeframe, limit=1, order="desc", rollup_tails=rollup_tails
    )
    return {row["symbol"]: row for row in rows}


@cache
def summary_sql(timeframe: Timeframe, rollup_tails: bool = True) -> str:
    """The statement behind `window_summary` for one source level (made once per level;
    `rollup_tails`: see `bars_sql`)."""
    window = " AND r.time >= $2 AND r.time < $3"
    if timeframe in BASE_TIMEFRAMES:
        source = f"bars r WHERE r.timeframe = '{timeframe.value}' AND r.symbol = s.symbol{window}"
        turnover = "r.vwap * r.volume"
        vwap_volume = "CASE WHEN r.vwap IS NULL THEN NULL ELSE r.volume END"
        bar_count = "count(*)"
    else:
        rows = rollup_rows_sql(ROLLUP_BY_TIMEFRAME[timeframe], window, tail=rollup_tails)
        source = f"{rows} r"
        turnover, vwap_volume, bar_count = "r.turnover", "r.vwap_volume", "sum(r.bar_count)"
    return f"""
        SELECT s.symbol, w.*
        FROM {_symbols(timeframe)} WITH ORDINALITY AS s(symbol, ord)
        CROSS JOIN LATERAL (
            SELECT (array_agg(r.open ORDER BY r.time))[1] AS open, max(r.high) AS high,
                   min(r.low) AS low, (array_agg(r.close ORDER BY r.time DESC))[1] AS close,
                   sum(r.volume) AS volume,
                   sum({turnover}) / nullif(sum({vwap_volume}), 0) AS vwap,
                   sum(r.trades) AS trades, {bar_count} AS bar_count,
                   min(r.time) AS first_time, max(r.time) AS last_time
            FROM {source}
        ) w
        WHERE w.bar_count > 0
        ORDER BY s.ord
    """


@idempotent_read
async def window_summary(
    pool: Executor,
    symbols: Sequence[str],
    start: datetime,
    end: datetime,
    *,
    base: Timeframe | str = Timeframe.M1,
    rollup_tails: bool = True,
) -> dict[str, WindowSummary]:
    """OHLCV, vwap, trades and bar count over [start, end) per symbol that has data there.

    Built from `base` bars (1m intraday, 1d daily) through the coarsest rollup that tiles the
    window, so a month of minutes reads hours, not minutes, where the bounds allow.
    `rollup_tails=False` where the rollups are portable (see `bars_sql`).
    """
    base_tf = parse_timeframe(base)
    if base_tf not in BASE_TIMEFRAMES:
        raise ValueError(f"a summary is built on 1m or 1d bars, not {base_tf.value!r}")
    source = tiling_timeframe(base_tf, start, end)
    rows = await pool.fetch(summary_sql(source, rollup_tails), list(symbols), start, end)
    # columns by position, in the select list's order (symbol, w.*): a dashboard's summaries
    # of many symbols pay one constructor call each, not twelve lookups by name
    return {
        symbol: WindowSummary(symbol, o, h, lo, c, v, vwap, trades, int(count), first, last, source)
        for symbol, o, h, lo, c, v, vwap, trades, count, first, last in rows
    }


_NEIGHBOUR_COLUMNS = "time, open, high, low, close, volume, vwap, trades, source"
_NEIGHBOURS = f"""
    (SELECT false AS after, {_NEIGHBOUR_COLUMNS} FROM bars WHERE symbol = $1 AND timeframe = $2
     AND time < $3 ORDER BY time DESC LIMIT $5)
    UNION ALL
    (SELECT true AS after, {_NEIGHBOUR_COLUMNS} FROM bars WHERE symbol = $1 AND timeframe = $2
     AND time > $4 ORDER BY time LIMIT $5)
"""


@idempotent_read
async def neighbours(
    conn: Executor, symbol: str, base: Timeframe, first: datetime, last: datetime, count: int
) -> list[asyncpg.Record]:
    """Up to `count` stored base bars just before `first` and just after `last` (`after` says
    which), in time order: the context quality flags of new bars are judged against."""
    rows = await conn.fetch(_NEIGHBOURS, symbol, base.value, first, last, count)
    return sorted(rows, key=lambda r: r["time"])
