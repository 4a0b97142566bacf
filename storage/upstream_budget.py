"""The upstream request budget in PostgreSQL: one row per budget, moved on per request.

The row holds the theoretical arrival time (GCRA): a request reserves `interval` after
max(row, now) and waits until its slot, `burst` requests may go back to back. One upsert per
request, atomic under concurrency, so every process over one database shares the budget. A
request cancelled while it waits gives its interval back, so abandoned requests (clients gone,
deadlines) do not hold the budget for the requests that remain.
"""

from __future__ import annotations

from storage.pool import Executor

_RESERVE = """
INSERT INTO upstream_budget AS b (name, tat)
VALUES ($1, clock_timestamp() + make_interval(secs => $2))
ON CONFLICT (name) DO UPDATE
    SET tat = greatest(b.tat, clock_timestamp()) + make_interval(secs => $2)
RETURNING greatest(0, extract(epoch FROM b.tat - clock_timestamp()) - $2 * $3)::float8
"""


async def reserve(db: Executor, name: str, interval_seconds: float, burst: int) -> float:
    """Reserve the next request of budget `name`; returns the seconds to wait before it."""
    wait = await db.fetchval(_RESERVE, name, float(interval_seconds), float(burst))
    return float(wait)


_RELEASE = """
UPDATE upstream_budget
SET tat = greatest(clock_timestamp(), tat - make_interval(secs => $2))
WHERE name = $1
"""


async def release(db: Executor, name: str, interval_seconds: float) -> None:
    """Give back one reservation that will not be used."""
    await db.execute(_RELEASE, name, float(interval_seconds))
