"""Materializing the continuous aggregates after every write, so reads use stored rollups.

A write records the time ranges it touched in `rollup_pending`, inside its own transaction;
after the commit (refresh cannot run in a transaction block) `drain_pending` refreshes every
level over those ranges, bottom-up, and deletes the rows it finished. A crash in between leaves
the rows, drained at the next start-up or write. Drains are serialized by an advisory lock, as
TimescaleDB refuses overlapping concurrent refreshes, and one drain takes every row waiting, so
concurrent writers' ranges coalesce into one refresh per level.

Each level is refreshed up to its last complete bucket only (before the bucket holding `now`):
the watermark stops there and real-time aggregation answers the unfinished tail; the rows still
covering unfinished buckets stay pending until a later drain finds them complete.

Refresh cost follows the data written: windows are exactly the touched buckets (merged over
short empty gaps), and each level is refreshed in a single pass per window. TimescaleDB 2.28's
manual refresh otherwise splits a window into batches of 10 buckets, each three transactions:
thousands of commits for a backfill of minute bars.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

import asyncpg

from domain.time_range import UNIX_EPOCH
from domain.timeframes import (
    BASE_TIMEFRAMES,
    Rollup,
    Timeframe,
    bucket_end,
    bucket_start,
    levels_from,
    nominal_width,
)
from storage.pool import Conn, Executor
from storage.retention import retained_from
from storage.session_reset import session_changed

log = logging.getLogger(__name__)

# Any constant works; every process draining this database must use the same one.
DRAIN_LOCK_KEY = 0x6D675F726566  # "mg_ref"

# Refreshing over a stretch without new bars costs next to nothing, while each refresh call has
# a fixed cost (three transactions): so nights, weekends and holidays are merged over.
MAX_MERGED_GAP = timedelta(days=8)

# At most this much of a level is materialized per transaction (a batch, in TimescaleDB's
# terms), so refreshing years of history at once never builds one giant transaction.
MAX_BATCH = timedelta(days=31)

# How long to wait out a refresh another session (a policy job) is running on the same window.
_BUSY_RETRIES = 50
_BUSY_SLEEP = 0.1
_TICK = timedelta(microseconds=1)


def merged_ranges(
    times: Iterable[datetime], width: timedelta, max_gap: timedelta = MAX_MERGED_GAP
) -> list[tuple[datetime, datetime]]:
    """Cover `times` with few [start, end) ranges: neighbours up to `max_gap` apart merge."""
    return _merge(((t, t + width) for t in times), max_gap)


def _merge(
    ranges: Iterable[tuple[datetime, datetime]], max_gap: timedelta
) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for start, end in sorted(ranges):
        if out and start - out[-1][1] <= max_gap:
            out[-1] = (out[-1][0], max(out[-1][1], end))
        else:
            out.append((start, end))
    return out


async def record_pending(conn: Conn, base: Timeframe, times: Sequence[datetime]) -> list[int]:
    """Inside the writer's transaction: remember which ranges need materializing."""
    ranges = merged_ranges(times, nominal_width(base))
    rows = await conn.fetch(
        "INSERT INTO rollup_pending (timeframe, range)"
        " SELECT $1, tstzrange(s, e) FROM unnest($2::timestamptz[], $3::timestamptz[]) AS u(s, e)"
        " RETURNING id",
        base.value,
        [r[0] for r in ranges],
        [r[1] for r in ranges],
    )
    return [r["id"] for r in rows]


def level_windows(
    rollup: Rollup, ranges: Iterable[tuple[datetime, datetime]], now: datetime
) -> list[tuple[datetime, datetime]]:
    """Whole buckets of `rollup` covering `ranges`, ending before the bucket holding `now`."""
    limit = bucket_start(rollup.timeframe, now)
    windows = []
    for start, end in ranges:
        lo = bucket_start(rollup.timeframe, start)
        hi = bucket_end(rollup.timeframe, bucket_start(rollup.timeframe, end - _TICK))
        if min(hi, limit) > lo:
            windows.append((lo, min(hi, limit)))
    return _merge(windows, timedelta(0))


def clipped(
    windows: list[tuple[datetime, datetime]], floor: datetime | None
) -> list[tuple[datetime, datetime]]:
    """`windows` from `floor` on: below the retention cutoff minute bars are gone, so a bucket
    recomputed there would lose what it holds (storage/retention.py)."""
    if floor is None:
        return windows
    return [(max(lo, floor), hi) for lo, hi in windows if hi > floor]


def unfinished(
    base: Timeframe, ranges: Iterable[tuple[datetime, datetime]], now: datetime
) -> list[tuple[datetime, datetime]]:
    """The parts of `ranges` some level could not materialize yet (its bucket is unfinished)."""
    coarsest = min(bucket_start(r.timeframe, now) for r in levels_from(base))
    return [(max(start, coarsest), end) for start, end in ranges if end > coarsest]


async def drain_pending(
    conn: Conn, ids: Sequence[int] | None = None, *, now: datetime | None = None
) -> int:
    """Materialize what `rollup_pending` lists; returns how many rows it finished.

    With `ids` (a writer's own rows) nothing is done when another drain already finished them;
    otherwise every waiting row is drained, whoever wrote it. `conn` must not be in a
    transaction. `now` decides which buckets are complete (default: the clock).
    """
    if conn.is_in_transaction():
        raise RuntimeError("continuous aggregates cannot be refreshed inside a transaction")
    # Refreshing a long range (or waiting for another drain's lock) legitimately outlasts a
    # request's statement timeout (pool.py): off for this connection until the drain ends.
    session_changed(conn)  # SETs and an advisory lock: reset on release
    await conn.execute("SET statement_timeout = 0")
    try:
        return await _drain(conn, ids, now)
    finally:
        await conn.execute("RESET statement_timeout")


async def _drain(conn: Conn, ids: Sequence[int] | None, now: datetime | None) -> int:
    await conn.execute("SELECT pg_advisory_lock($1)", DRAIN_LOCK_KEY)
    try:
        if ids is not None and not await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM rollup_pending WHERE id = ANY($1::bigint[]))", list(ids)
        ):
            return 0
        # Each refresh commits three or four times; waiting for each WAL flush was most of its
        # cost. Safe: WAL is flushed in order, so if the commit deleting the pending rows
        # survives a crash, so did the refreshes before it; if not, the rows are drained again.
        await conn.execute("SET synchronous_commit = off")
        # A level built on another reads it through its real-time view, whose watermark test a
        # sequential scan evaluates per row (about 30 us each); as an index bound it is read
        # once. Measured: refreshing a month of 15m buckets of 10 symbols, 3.0 s -> 0.6 s.
        await conn.execute("SET enable_seqscan = off")
        return await _drain_locked(conn, now or datetime.now(UTC))
    finally:
        await conn.execute("RESET synchronous_commit")
        await conn.execute("RESET enable_seqscan")
        await conn.execute("SELECT pg_advisory_unlock($1)", DRAIN_LOCK_KEY)


async def _drain_locked(conn: Conn, now: datetime) -> int:
    rows = await conn.fetch(
        "SELECT id, timeframe, lower(range) AS s, upper(range) AS e FROM rollup_pending"
    )
    options = await _batch_options_supported(conn)
    cutoff = await retained_from(conn)
    for base in BASE_TIMEFRAMES:
        mine = [r for r in rows if r["timeframe"] == base.value]
        if not mine:
            continue
        ranges = _merge(((r["s"], r["e"]) for r in mine), timedelta(0))
        for rollup in levels_from(base):  # each level reads the one below: bottom-up
            floor = cutoff if cutoff is not None and rollup.source is Timeframe.M1 else None
            for lo, hi in clipped(level_windows(rollup, ranges, now), floor):
                await _refresh(conn, rollup, lo, hi, options)
        async with conn.transaction():
            await conn.execute(
                "DELETE FROM rollup_pending WHERE id = ANY($1::bigint[])", [r["id"] for r in mine]
            )
            left = unfinished(base, ranges, now)
            if left:
                await conn.execute(
                    "INSERT INTO rollup_pending (timeframe, range) SELECT $1, tstzrange(s, e)"
                    " FROM unnest($2::timestamptz[], $3::timestamptz[]) AS u(s, e)",
                    base.value,
                    [r[0] for r in left],
                    [r[1] for r in left],
                )
    return len(rows)


async def _batch_options_supported(conn: Conn) -> bool:
    """Whether refresh_continuous_aggregate takes `options` (TimescaleDB 2.21 and later)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_proc WHERE proname = 'refresh_continuous_aggregate'"
            " AND pronargs = 5)"
        )
    )


def batch_options(rollup: Rollup) -> str:
    """`buckets_per_batch` so one batch spans MAX_BATCH (0, a single pass, for months)."""
    if rollup.timeframe is Timeframe.MO1:
        return json.dumps({"buckets_per_batch": 0})
    buckets = MAX_BATCH // nominal_width(rollup.timeframe)
    return json.dumps({"buckets_per_batch": max(int(buckets), 1)})


def refresh_statement(rollup: Rollup, lo: datetime, hi: datetime, with_options: bool) -> str:
    """The CALL for one window, with its values inlined as quoted literals.

    Measured on TimescaleDB 2.28 / PostgreSQL 15: the same CALL sent with bind parameters (the
    extended protocol) costs 100-200 ms more per call than as a simple query, which would be
    most of a write's cost. The values are no input: a relation name from ROLLUPS, two
    datetimes and a JSON object of integers, each quoted by `_quote` anyway.
    """
    args = [f"{_quote(rollup.relation)}::regclass"]
    args += [f"{_quote(t.astimezone(UTC).isoformat())}::timestamptz" for t in (lo, hi)]
    if with_options:
        args += ["false", f"{_quote(batch_options(rollup))}::jsonb"]
    return f"CALL refresh_continuous_aggregate({', '.join(args)})"


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


async def _refresh(
    conn: Conn, rollup: Rollup, lo: datetime, hi: datetime, with_options: bool
) -> None:
    statement = refresh_statement(rollup, lo, hi, with_options)
    for attempt in range(_BUSY_RETRIES):
        try:
            await conn.execute(statement)  # no arguments: the simple query protocol
            return
        except asyncpg.LockNotAvailableError:  # a policy job refreshing an overlapping window
            if attempt == _BUSY_RETRIES - 1:
                raise
            await asyncio.sleep(_BUSY_SLEEP)


_NO_WATERMARK = -210866803200000000  # TimescaleDB's internal minimum: nothing materialized


async def watermarks(conn: Executor) -> dict[str, datetime | None]:
    """Each continuous aggregate's watermark (None before anything is materialized)."""
    rows = await conn.fetch(
        "SELECT user_view_name AS relation,"
        " _timescaledb_functions.cagg_watermark(mat_hypertable_id) AS internal"
        " FROM _timescaledb_catalog.continuous_agg"
    )
    return {
        r["relation"]: None
        if r["internal"] <= _NO_WATERMARK
        else UNIX_EPOCH + timedelta(microseconds=r["internal"])
        for r in rows
    }
