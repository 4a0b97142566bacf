"""How TimescaleDB cuts `bars` into chunks, for statements that bound their time by a chunk's
start.

A bound known only as a parameter leaves chunk exclusion to each call when PostgreSQL keeps a
generic plan (at executor startup, every chunk looked at). Written into the statement as a
literal on a chunk boundary, the same bound excludes the older chunks while planning, in generic
plans too, and gives few distinct statement texts (one per chunk).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from domain.time_range import UNIX_EPOCH
from storage.pool import Executor

CHUNK = timedelta(days=7)  # the chunk interval migration 0002 gives `bars`


def chunk_start(time: datetime) -> datetime:
    """The start of the chunk holding `time` (an aware datetime)."""
    return UNIX_EPOCH + (time - UNIX_EPOCH) // CHUNK * CHUNK


async def bars_are_chunked(conn: Executor) -> bool:
    """Whether `bars` is a TimescaleDB hypertable in this database."""
    if not await conn.fetchval(
        "SELECT to_regclass('timescaledb_information.hypertables') IS NOT NULL"
    ):
        return False
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM timescaledb_information.hypertables"
            " WHERE hypertable_schema = current_schema() AND hypertable_name = 'bars')"
        )
    )
