"""Scheduled backfill runs: one runner at a time across processes, one run per schedule tick.

Every process's scheduler wakes at the same tick. The runner is whoever takes the advisory
lock (the others skip the tick at once) *and* then claims the tick's row: a process whose
clock lags could otherwise take the lock after the first runner released it and run the same
tick again.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import asyncpg

from domain.records import BackfillRun
from storage.pool import Conn, Executor
from storage.session_reset import session_changed
from storage.unavailable import when_unreachable

# Any constant works; it only has to be the same in every process sharing the database.
BACKFILL_LOCK_KEY = 0x6D675F626B66  # "mg_bkf"
_COLUMNS = (
    "id, scheduled_for, started_at, finished_at, successful_symbols, failed_symbols,"
    " records_imported"
)


@contextlib.asynccontextmanager
async def runner_lock(pool: asyncpg.Pool, key: int = BACKFILL_LOCK_KEY) -> AsyncIterator[bool]:
    """Hold the runner lock for the block if no other session holds it; yields whether it did.

    Session-level on a connection kept for the block, so a crashed runner's lock goes with its
    connection.
    """
    async with pool.acquire() as conn:
        session_changed(conn)
        held = bool(await conn.fetchval("SELECT pg_try_advisory_lock($1)", key))
        try:
            yield held
        finally:
            if held:
                await conn.execute("SELECT pg_advisory_unlock($1)", key)


@when_unreachable
async def claim_run(conn: Executor, scheduled_for: datetime) -> int | None:
    """Start the run of the tick `scheduled_for`; None when some process already ran it."""
    value: Any = await conn.fetchval(
        "INSERT INTO backfill_runs (scheduled_for) VALUES ($1)"
        " ON CONFLICT (scheduled_for) DO NOTHING RETURNING id",
        scheduled_for,
    )
    return None if value is None else int(value)


@when_unreachable
async def finish_run(
    conn: Executor, run_id: int, successful: int, failed: int, records: int
) -> None:
    await conn.execute(
        "UPDATE backfill_runs SET finished_at = now(), successful_symbols = $2,"
        " failed_symbols = $3, records_imported = $4 WHERE id = $1",
        run_id,
        successful,
        failed,
        records,
    )


@when_unreachable
async def last_finished_run(conn: Executor) -> BackfillRun | None:
    row = await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM backfill_runs WHERE finished_at IS NOT NULL"
        " ORDER BY finished_at DESC LIMIT 1"
    )
    return None if row is None else BackfillRun(*row.values())


@when_unreachable
async def runs(conn: Conn | asyncpg.Pool) -> list[BackfillRun]:
    """Every run, oldest tick first (for operators and tests)."""
    rows = await conn.fetch(f"SELECT {_COLUMNS} FROM backfill_runs ORDER BY scheduled_for")
    return [BackfillRun(*r.values()) for r in rows]
