"""What the connected PostgreSQL offers: TimescaleDB at all, and its full (TSL) build.

Continuous aggregates, compression and policies need `timescaledb.license = 'timescale'`;
the Apache-only build (what Debian packages) has hypertables only.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from storage.pool import Executor


class RollupBackend(enum.StrEnum):
    """Which implementation answers coarse timeframes."""

    CAGGS = "caggs"  # hierarchical continuous aggregates (full TimescaleDB)
    PORTABLE = "portable"  # plain tables refreshed per write (any PostgreSQL)


@dataclass(frozen=True, slots=True)
class DatabaseFeatures:
    """A snapshot of what the server offers, taken before migrating."""

    server_version: int
    timescaledb_available: bool  # the extension is installed on the server and preloaded
    timescaledb_installed: bool  # the extension exists in this database
    license: str | None  # 'timescale', 'apache' or None

    @property
    def rollup_backend(self) -> RollupBackend:
        full = self.timescaledb_installed and self.license == "timescale"
        return RollupBackend.CAGGS if full else RollupBackend.PORTABLE

    @property
    def tags(self) -> frozenset[str]:
        """Migration tags this database satisfies (see storage/migrations.py)."""
        tags = {self.rollup_backend.value}
        if self.timescaledb_installed:
            tags.add("timescaledb")
        return frozenset(tags)


async def detect(conn: Executor) -> DatabaseFeatures:
    """Read the server's version, whether TimescaleDB can be used and under which license."""
    version = int(await conn.fetchval("SHOW server_version_num"))
    available = bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')"
            " AND current_setting('shared_preload_libraries') LIKE '%timescaledb%'"
        )
    )
    installed = bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb')"
        )
    )
    license_ = await conn.fetchval("SELECT current_setting('timescaledb.license', true)")
    return DatabaseFeatures(version, available, installed, license_ or None)
