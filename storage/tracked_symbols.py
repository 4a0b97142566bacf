"""Tracked symbols: the admin-managed list the scheduled backfill keeps filled.

Deleting is soft (`deleted_at`): the row leaves every list and lookup, its bars stay, and
tracking the symbol again revives the row as new.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from domain.records import AssetClass, TrackedSymbol
from domain.timeframes import Timeframe
from storage.pool import Executor
from storage.unavailable import when_unreachable

_COLUMNS = (
    "id, symbol, asset_class, active, timeframes, date_added, last_backfill, backfill_status,"
    " last_error"
)


def _tracked(row: Any) -> TrackedSymbol:
    return TrackedSymbol(
        id=row["id"],
        symbol=row["symbol"],
        asset_class=row["asset_class"],
        active=row["active"],
        timeframes=tuple(Timeframe(t) for t in row["timeframes"]),
        date_added=row["date_added"],
        last_backfill=row["last_backfill"],
        backfill_status=row["backfill_status"],
        last_error=row["last_error"],
    )


@when_unreachable
async def add_tracked(
    pool: Executor, symbol: str, asset_class: AssetClass, timeframes: Sequence[Timeframe]
) -> TrackedSymbol | None:
    """Track `symbol` (reviving a deleted row as new); None when it is tracked already."""
    row = await pool.fetchrow(
        "INSERT INTO tracked_symbols (symbol, asset_class, timeframes) VALUES ($1, $2, $3)"
        " ON CONFLICT (symbol) DO UPDATE SET asset_class = EXCLUDED.asset_class,"
        " timeframes = EXCLUDED.timeframes, active = true, deleted_at = NULL,"
        " date_added = now(), last_backfill = NULL, backfill_status = 'pending',"
        " last_error = NULL"
        " WHERE tracked_symbols.deleted_at IS NOT NULL"
        f" RETURNING {_COLUMNS}",
        symbol,
        asset_class,
        [t.value for t in timeframes],
    )
    return None if row is None else _tracked(row)


@when_unreachable
async def list_tracked(pool: Executor, active_only: bool) -> list[TrackedSymbol]:
    """Tracked (not deleted) symbols by symbol; only active ones when `active_only`."""
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM tracked_symbols"
        " WHERE deleted_at IS NULL AND (active OR NOT $1) ORDER BY symbol",
        active_only,
    )
    return [_tracked(r) for r in rows]


@when_unreachable
async def get_tracked(pool: Executor, symbol: str) -> TrackedSymbol | None:
    row = await pool.fetchrow(
        f"SELECT {_COLUMNS} FROM tracked_symbols WHERE symbol = $1 AND deleted_at IS NULL",
        symbol,
    )
    return None if row is None else _tracked(row)


@when_unreachable
async def set_tracked_active(pool: Executor, symbol: str, active: bool) -> TrackedSymbol | None:
    """Pause or resume a symbol's backfill; None when it is not tracked."""
    row = await pool.fetchrow(
        "UPDATE tracked_symbols SET active = $2 WHERE symbol = $1 AND deleted_at IS NULL"
        f" RETURNING {_COLUMNS}",
        symbol,
        active,
    )
    return None if row is None else _tracked(row)


@when_unreachable
async def set_tracked_timeframes(
    pool: Executor, symbol: str, timeframes: Sequence[Timeframe]
) -> TrackedSymbol | None:
    """Replace a symbol's timeframes; None when it is not tracked."""
    row = await pool.fetchrow(
        "UPDATE tracked_symbols SET timeframes = $2 WHERE symbol = $1 AND deleted_at IS NULL"
        f" RETURNING {_COLUMNS}",
        symbol,
        [t.value for t in timeframes],
    )
    return None if row is None else _tracked(row)


@when_unreachable
async def delete_tracked(pool: Executor, symbol: str) -> bool:
    """Soft delete: the symbol stops being tracked, its bars stay. False when not tracked."""
    result = await pool.execute(
        "UPDATE tracked_symbols SET deleted_at = now(), active = false"
        " WHERE symbol = $1 AND deleted_at IS NULL",
        symbol,
    )
    return result != "UPDATE 0"


@when_unreachable
async def record_backfill(pool: Executor, symbol: str, at: datetime, error: str | None) -> None:
    """A symbol's backfill outcome: `success` without an error, else `failed` and why."""
    await pool.execute(
        "UPDATE tracked_symbols SET last_backfill = $2, backfill_status = $3, last_error = $4"
        " WHERE symbol = $1",
        symbol,
        at,
        "success" if error is None else "failed",
        error,
    )
