"""What a continuous aggregate holds in its materialization hypertable, read past its view."""

from __future__ import annotations

import asyncpg

from storage.pool import Executor


async def materialized_rows(db: Executor, relation: str) -> list[asyncpg.Record]:
    """The stored rows of `relation` (never real-time ones), shaped like `fetch_bars` rows."""
    row = await db.fetchrow(
        "SELECT h.schema_name, h.table_name FROM _timescaledb_catalog.continuous_agg c"
        " JOIN _timescaledb_catalog.hypertable h ON h.id = c.mat_hypertable_id"
        " WHERE c.user_view_name = $1",
        relation,
    )
    assert row is not None, f"{relation} is not a continuous aggregate"
    table = f'"{row["schema_name"]}"."{row["table_name"]}"'
    return await db.fetch(
        "SELECT symbol, time, open, high, low, close, volume,"
        " turnover / nullif(vwap_volume, 0) AS vwap, trades::bigint AS trades, bar_count"
        f' FROM {table} ORDER BY symbol COLLATE "C", time'
    )


async def pending_ranges(db: Executor) -> list[asyncpg.Record]:
    return await db.fetch(
        "SELECT timeframe, lower(range) AS start, upper(range) AS end FROM rollup_pending"
        " ORDER BY timeframe, lower(range)"
    )


async def compressed_chunks(db: Executor) -> tuple[int, int]:
    """How many chunks of `bars` are compressed, and how many there are."""
    row = await db.fetchrow(
        "SELECT count(*) FILTER (WHERE is_compressed) AS compressed, count(*) AS chunks"
        " FROM timescaledb_information.chunks WHERE hypertable_name = 'bars'"
    )
    assert row is not None
    return row["compressed"], row["chunks"]
