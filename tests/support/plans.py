"""What an `EXPLAIN (FORMAT JSON)` plan says a statement touches: pages, and chunks of `bars`."""

from __future__ import annotations

import json
from typing import Any

import asyncpg


def root_plan(explained: Any) -> dict[str, Any]:
    """The top node of `EXPLAIN (FORMAT JSON)`'s answer (text, or decoded by a JSON codec)."""
    plans = json.loads(explained) if isinstance(explained, str) else explained
    return dict(plans[0]["Plan"])


def pages_touched(plan: dict[str, Any]) -> int:
    """Shared buffers the statement touched, hit or read (a node's count includes its inputs'),
    from `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)`."""
    return int(plan["Shared Hit Blocks"]) + int(plan["Shared Read Blocks"])


def bar_chunks(plan: dict[str, Any], *, excluded_at_startup: bool = False) -> int:
    """Chunks of the `bars` hypertable the plan scans; with `excluded_at_startup`, also those each
    call's executor startup excludes (the work a generic plan does on every call)."""
    here = int(plan.get("Relation Name", "").startswith("_hyper_"))
    if excluded_at_startup:
        here += int(plan.get("Chunks excluded during startup", 0))
    below = plan.get("Plans", ())
    return here + sum(bar_chunks(child, excluded_at_startup=excluded_at_startup) for child in below)


async def generic_plan_chunks(pool: asyncpg.Pool, sql: str, *args: object) -> int:
    """`bar_chunks` (startup exclusions included) of `sql` planned as PostgreSQL plans a cached
    statement: generic, knowing no parameter (`args`, literals for `EXECUTE`)."""
    async with pool.acquire() as conn:
        await conn.execute("SET plan_cache_mode = force_generic_plan")
        try:
            await conn.execute(f"PREPARE planned AS {sql}")
            params = ", ".join(f"'{a}'" if isinstance(a, str) else str(a) for a in args)
            raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE planned({params})")
            return bar_chunks(root_plan(raw), excluded_at_startup=True)
        finally:
            await conn.execute("DEALLOCATE planned")  # ours only: the pool's stay cached
            await conn.execute("RESET plan_cache_mode")
