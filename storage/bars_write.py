"""The bulk write path for base bars: COPY into a staging table, then one upsert.

Idempotent: a bar whose values are already stored is not rewritten (no new row version, no
rollup refresh), so re-ingesting the same data changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import NamedTuple

import asyncpg

from domain.errors import InvalidInput
from domain.tickers import validate_ticker
from domain.time_range import check_bar_time
from domain.timeframes import BASE_TIMEFRAMES, Timeframe, parse_timeframe
from storage import caggs, rollups
from storage.features import RollupBackend
from storage.notify import Stage, notify_written
from storage.pool import NO_STATEMENT_TIMEOUT, Conn
from storage.retention import CUTOFF_SQL
from storage.rollup_batch import RollupBatch


class BarIn(NamedTuple):
    """One base bar to store; field order is the staging table's column order."""

    symbol: str
    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None = None
    trades: int | None = None
    gap_detected: bool = False
    volume_anomaly: bool = False
    quality_score: float = 1.0
    validation_notes: str | None = None
    source: str = "polygon"


COLUMNS = BarIn._fields
_STAGING = "mg_bars_staging"
_CREATE_STAGING = f"""
    CREATE TEMP TABLE IF NOT EXISTS {_STAGING} (
        symbol text, time timestamptz, open float8, high float8, low float8, close float8,
        volume float8, vwap float8, trades bigint, gap_detected boolean, volume_anomaly boolean,
        quality_score real, validation_notes text, source text
    ) ON COMMIT DELETE ROWS
"""
_VALUES = ", ".join(COLUMNS)
_COMPARED = ("open", "high", "low", "close", "volume", "vwap", "trades", "gap_detected",
             "volume_anomaly", "quality_score", "validation_notes", "source")  # fmt: skip
_UPSERT = f"""
    WITH written AS (
        INSERT INTO bars (timeframe, {_VALUES})
        SELECT $1, {_VALUES} FROM {_STAGING}
        WHERE $1 <> '1m' OR time >= {CUTOFF_SQL}  -- below it, minute bars are not kept
        ON CONFLICT (symbol, timeframe, time) DO UPDATE SET
            {", ".join(f"{c} = EXCLUDED.{c}" for c in (*_COMPARED, "fetched_at"))}
        WHERE ({", ".join(f"bars.{c}" for c in _COMPARED)})
              IS DISTINCT FROM ({", ".join(f"EXCLUDED.{c}" for c in _COMPARED)})
        RETURNING symbol, time
    )
    SELECT coalesce(array_agg(symbol), '{{}}') AS symbols,
           coalesce(array_agg(time), '{{}}') AS times
    FROM written
"""


def validate_bars(timeframe: Timeframe, bars: Sequence[BarIn]) -> None:
    """Refuse what must never reach the table: bad tickers, times outside the supported range,
    non-finite numbers, duplicates. All are checked before anything is written."""
    if timeframe not in BASE_TIMEFRAMES:
        raise InvalidInput(f"only base timeframes (1m, 1d) are stored, not {timeframe.value!r}")
    seen: set[tuple[str, datetime]] = set()
    for bar in bars:
        validate_ticker(bar.symbol)
        if bar.time.tzinfo is None:
            raise InvalidInput(f"bar time {bar.time.isoformat()} has no time zone")
        check_bar_time(bar.time, f"bar {bar.symbol}")
        if timeframe is Timeframe.M1 and (bar.time.second or bar.time.microsecond):
            raise InvalidInput(f"1m bar time {bar.time.isoformat()} is not on a minute")
        numbers = (bar.open, bar.high, bar.low, bar.close, bar.volume)
        if not all(math.isfinite(x) for x in numbers) or (
            bar.vwap is not None and not math.isfinite(bar.vwap)
        ):
            raise InvalidInput(f"bar {bar.symbol} {bar.time.isoformat()} has a non-finite value")
        key = (bar.symbol, bar.time)
        if key in seen:
            raise InvalidInput(f"bar {bar.symbol} {bar.time.isoformat()} appears twice")
        seen.add(key)


async def upsert_bars(
    pool: asyncpg.Pool,
    timeframe: Timeframe | str,
    bars: Sequence[BarIn],
    backend: RollupBackend,
    *,
    batch: RollupBatch | None = None,
) -> int:
    """Store `bars` and bring every coarser timeframe up to date before returning (with
    `batch`, continuous aggregates only once `batch.flush()` runs, see storage/rollup_batch.py).

    Returns how many rows were inserted or changed (0 when everything was already stored);
    minute bars below the retention cutoff (storage/retention.py) are not stored.
    Listeners are told what changed (storage/notify.py): in the transaction, and with
    continuous aggregates once more after their refresh (the post-commit notification is
    lost if the process dies in between; the refresh is finished at the next start).
    """
    timeframe = parse_timeframe(timeframe)
    validate_bars(timeframe, bars)
    if not bars:
        return 0
    async with pool.acquire() as conn:
        written = await write_bars(conn, timeframe, bars, backend)
        if written.pending and batch is not None:
            batch.add(timeframe, written.symbols, written.times, written.pending)
        elif written.pending:  # after the commit: a refresh cannot run inside a transaction
            await caggs.drain_pending(conn, written.pending)
            await notify_written(conn, timeframe, written.symbols, written.times, Stage.ROLLUPS)
    return len(written.times)


class Written(NamedTuple):
    """What one write changed: symbols and times of changed bars, pending refresh rows."""

    symbols: list[str]
    times: list[datetime]
    pending: list[int]


async def write_bars(
    conn: Conn, timeframe: Timeframe, bars: Sequence[BarIn], backend: RollupBackend
) -> Written:
    """The transactional half of `upsert_bars`, announcing the changed bars at its commit.

    On continuous aggregates the rollups are not current until the pending rows are drained
    (the rollup levels are announced after that); a crash before that leaves them for
    `caggs.drain_pending` at start-up.
    """
    async with conn.transaction():
        # Stored bars were paid for (upstream budget) and must not be lost to a request's
        # statement timeout (pool.py): the write's own statements run without it.
        await conn.execute(NO_STATEMENT_TIMEOUT)
        changed = await _copy_and_upsert(conn, timeframe, bars)
        symbols, times = changed["symbols"], changed["times"]
        pending: list[int] = []
        if backend is RollupBackend.PORTABLE:
            await rollups.refresh_portable(conn, timeframe, symbols, times)
        elif times:
            pending = await caggs.record_pending(conn, timeframe, times)
        stage = Stage.ALL if backend is RollupBackend.PORTABLE else Stage.BASE
        await notify_written(conn, timeframe, symbols, times, stage)
    return Written(symbols, times, pending)


async def _copy_and_upsert(
    conn: Conn, timeframe: Timeframe, bars: Sequence[BarIn]
) -> asyncpg.Record:
    await conn.execute(_CREATE_STAGING)
    await conn.copy_records_to_table(_STAGING, records=bars, columns=COLUMNS)
    row = await conn.fetchrow(_UPSERT, timeframe.value)
    assert row is not None  # an aggregate without GROUP BY always returns one row
    return row
