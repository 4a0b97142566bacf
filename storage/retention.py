"""The minute-bar retention cutoff, shared by the policy run, the write path and the drain.

Below it raw minute bars are deleted (storage/policies.py), never stored again
(storage/bars_write.py) and never rolled up again (storage/caggs.py): recomputing a rollup
bucket there would find its minute bars gone and lose it.
"""

from __future__ import annotations

from datetime import datetime

from storage.pool import Executor

RETENTION_KEY = "minute_bars_retained_from"
# The cutoff in SQL ('-infinity' while retention never ran), for statements that filter on it.
CUTOFF_SQL = (
    "coalesce((SELECT value::timestamptz FROM mg_meta"
    f" WHERE key = '{RETENTION_KEY}'), '-infinity'::timestamptz)"
)


async def retained_from(conn: Executor) -> datetime | None:
    """The recorded cutoff, or None while minute bars are kept for ever."""
    value = await conn.fetchval(
        "SELECT value::timestamptz FROM mg_meta WHERE key = $1", RETENTION_KEY
    )
    return value  # type: ignore[no-any-return]
