"""TimescaleDB policies: compress old base bars, drop old raw minute bars, keep every rollup.

Run by marketgraph itself (start-up and an hourly loop, gateway/policies.py), not by
TimescaleDB's job runner, whose background jobs fail on some PostgreSQL builds (15.20: "cannot
drop portal"); a run is idempotent and one process at a time does it (advisory lock).

Retention deletes minute bars (daily bars share the chunks, so whole chunks cannot be dropped)
below a cutoff aligned to the coarsest minute rollup's bucket, recorded in `mg_meta` and never
moved back. Rollups survive because nothing recomputes a 5-minute bucket below the cutoff:
the write path stores no minute bar below it (storage/bars_write.py) and the drain clips the
refresh windows of levels built on raw minute bars at it (storage/caggs.py); the levels above
are recomputed from the 5-minute rows, which stay. TimescaleDB's own refresh policies look back
at most 7 days, hence a retention of at least 8.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from domain.timeframes import Timeframe, bucket_start, levels_from, nominal_width
from storage import caggs
from storage.features import DatabaseFeatures, RollupBackend
from storage.policy_bounds import MIN_COMPRESS_AFTER, MIN_RETAIN_MINUTE_BARS
from storage.pool import Conn
from storage.retention import RETENTION_KEY, retained_from
from storage.session_reset import session_changed

log = logging.getLogger(__name__)

# Any constant works; every process enforcing policies on this database uses the same one.
POLICY_LOCK_KEY = 0x6D675F706F6C  # "mg_pol"
_COARSEST = max(levels_from(Timeframe.M1), key=lambda r: nominal_width(r.timeframe)).timeframe
_DELETE_STEP = timedelta(days=7)  # one chunk's worth per transaction


@dataclass(frozen=True, slots=True)
class Policies:
    """What to enforce; None turns a policy off."""

    compress_after: timedelta | None = None
    retain_minute_bars_for: timedelta | None = None

    def __post_init__(self) -> None:
        if self.compress_after is not None and self.compress_after < MIN_COMPRESS_AFTER:
            raise ValueError("COMPRESS_AFTER must be at least 1 day")
        if (
            self.retain_minute_bars_for is not None
            and self.retain_minute_bars_for < MIN_RETAIN_MINUTE_BARS
        ):
            raise ValueError("RETAIN_MINUTE_BARS_FOR must be at least 8 days (rollups need it)")

    @property
    def enabled(self) -> bool:
        return self.compress_after is not None or self.retain_minute_bars_for is not None


@dataclass(frozen=True, slots=True)
class PolicyRun:
    """What one run did (None: skipped, another process was running one)."""

    chunks_compressed: int
    minute_bars_deleted: int
    retained_from: datetime | None


def unsupported_reason(features: DatabaseFeatures, backend: RollupBackend) -> str | None:
    """Why policies cannot run on this database, or None when they can."""
    if features.license != "timescale" or not features.timescaledb_installed:
        return "they need full TimescaleDB (timescaledb.license = 'timescale')"
    if backend is not RollupBackend.CAGGS:
        return "this database was set up without TimescaleDB's continuous aggregates"
    return None


def retention_cutoff(retain: timedelta, now: datetime) -> datetime:
    """Minute bars before this go: whole buckets of every minute rollup lie on either side."""
    return bucket_start(_COARSEST, now - retain)


async def enforce(conn: Conn, policies: Policies, now: datetime) -> PolicyRun | None:
    """Apply `policies` once (outside a transaction); None if another process holds the lock."""
    session_changed(conn)  # a session-level lock: the pool resets this connection
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", POLICY_LOCK_KEY):
        return None
    try:
        deleted, cutoff = 0, await retained_from(conn)
        if policies.retain_minute_bars_for is not None:
            cutoff = await _advance_cutoff(
                conn, retention_cutoff(policies.retain_minute_bars_for, now)
            )
            await caggs.drain_pending(conn, now=now)  # roll up what was written before it
            deleted = await _delete_minute_bars(conn, cutoff)
        compressed = 0
        if policies.compress_after is not None:
            compressed = await conn.fetchval(
                "SELECT count(compress_chunk(c, if_not_compressed => true))"
                " FROM show_chunks('bars', older_than => $1::timestamptz) AS c",
                now - policies.compress_after,
            )
        return PolicyRun(compressed, deleted, cutoff)
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", POLICY_LOCK_KEY)


async def _advance_cutoff(conn: Conn, cutoff: datetime) -> datetime:
    value = await conn.fetchval(
        "INSERT INTO mg_meta (key, value) VALUES ($1, $2::timestamptz::text)"
        " ON CONFLICT (key) DO UPDATE SET value ="
        " greatest(mg_meta.value::timestamptz, EXCLUDED.value::timestamptz)::text"
        " RETURNING value::timestamptz",
        RETENTION_KEY,
        cutoff,
    )
    return value  # type: ignore[no-any-return]


async def _delete_minute_bars(conn: Conn, cutoff: datetime) -> int:
    """Delete minute bars below `cutoff`, a week per transaction, oldest first."""
    oldest = await conn.fetchval(
        "SELECT min(time) FROM bars WHERE timeframe = '1m' AND time < $1", cutoff
    )
    deleted = 0
    while oldest is not None and oldest < cutoff:
        upper = min(cutoff, oldest + _DELETE_STEP)
        status = await conn.execute(
            "DELETE FROM bars WHERE timeframe = '1m' AND time >= $1 AND time < $2", oldest, upper
        )
        deleted += int(status.split()[-1])
        oldest = upper
    return deleted
