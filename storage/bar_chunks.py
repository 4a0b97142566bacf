"""How TimescaleDB cuts `bars` into chunks, for statements that bound their time by a chunk's
start.

A bound known only as a parameter leaves chunk exclusion to each call when PostgreSQL keeps a
generic plan (at executor startup, every chunk looked at). Written into the statement as a
literal on a chunk boundary, the same bound excludes the older chunks while planning, in generic
plans too, and gives few distinct statement texts (one per chunk).

The interval is read from the database at start-up (`bars_chunk_interval`): an operator may have
changed migration 0002's 7 days with `set_chunk_time_interval`. TimescaleDB starts a chunk of a
fixed interval at a multiple of it from the Unix epoch, which is what `chunk_start` computes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.time_range import UNIX_EPOCH
from storage.pool import Executor

WEEK = timedelta(days=7)
"""Migration 0002's chunk interval, and the step of horizons where `bars` has no chunks."""
FIRST_DATETIME = datetime.min.replace(tzinfo=UTC)
"""Where `chunk_start` puts a chunk that would start before any datetime can (year 1)."""


def chunk_start(time: datetime, interval: timedelta = WEEK) -> datetime:
    """The start of the chunk of `interval` holding `time` (an aware datetime); for a time in
    year 1 whose chunk would start before any datetime, the earliest one (a bound from
    `start=0001-01-01` overflowed into a 500)."""
    try:
        return UNIX_EPOCH + (time - UNIX_EPOCH) // interval * interval
    except OverflowError:
        return FIRST_DATETIME


async def bars_chunk_interval(conn: Executor) -> timedelta | None:
    """The interval new chunks of `bars` get, or None where `bars` is not a hypertable.

    TimescaleDB 2.28 stores a month as 30 days (`set_chunk_time_interval('bars', '1 month')`
    reads back as 30 days), and so does asyncpg: a horizon is a guess either way."""
    if not await conn.fetchval(
        "SELECT to_regclass('timescaledb_information.dimensions') IS NOT NULL"
    ):
        return None
    row = await conn.fetchrow(
        "SELECT time_interval FROM timescaledb_information.dimensions"
        " WHERE hypertable_schema = current_schema() AND hypertable_name = 'bars'"
        " AND column_name = 'time'"
    )
    if row is None:
        return None
    interval: timedelta | None = row["time_interval"]
    return interval if interval is not None and interval > timedelta(0) else WEEK
