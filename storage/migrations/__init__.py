"""Ordered SQL migrations, each applied once, safe to run from several processes at once.

Files are named `NNNN_name.sql` (every database) or `NNNN_name.TAG.sql`, applied only where the
database has TAG (`timescaledb`, `caggs` or `portable`, see storage/features.py). A file whose
first line is `-- migrate: no-transaction` runs statement by statement (split on `--;;` lines),
for DDL that TimescaleDB refuses inside a transaction; such files must be idempotent.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import timedelta
from importlib import resources

import asyncpg

from storage.bar_chunks import bars_chunk_interval
from storage.features import DatabaseFeatures, RollupBackend, detect
from storage.pool import Executor, connect
from storage.unavailable import idempotent_read

log = logging.getLogger(__name__)

# Any constant works; it only has to be the same in every process migrating this database.
ADVISORY_LOCK_KEY = 0x6D675F6D6967  # "mg_mig"
_NAME = re.compile(r"^(?P<version>\d{4})_(?P<name>[a-z0-9_]+)(?:\.(?P<tag>[a-z]+))?\.sql$")
_NO_TRANSACTION = "-- migrate: no-transaction"


@dataclass(frozen=True, slots=True)
class Migration:
    """One SQL file of storage/migrations."""

    filename: str
    tag: str | None
    sql: str

    @property
    def transactional(self) -> bool:
        return not self.sql.startswith(_NO_TRANSACTION)


@dataclass(frozen=True, slots=True)
class MigrationReport:
    """What a run did, and what the database turned out to offer."""

    applied: tuple[str, ...]
    features: DatabaseFeatures
    rollup_backend: RollupBackend
    bars_chunk_interval: timedelta | None
    """Read here, on the migration's connection, which has none of the requests' statement
    timeout (storage/bar_chunks.py): start-up needs it, and must not fail on a catalog busy
    for a moment, nor, with a 1 ms limit on a loaded machine, on a pooled connection's
    `BEGIN` before it could turn the limit off."""


def available_migrations() -> list[Migration]:
    """Every migration file shipped with the package, in order."""
    found = []
    for entry in resources.files(__package__).iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(entry.name, match["tag"], entry.read_text(encoding="utf-8")))
    return sorted(found, key=lambda m: m.filename)


async def migrate(dsn: str, *, use_timescaledb: bool = True) -> MigrationReport:
    """Bring the database at `dsn` up to date; concurrent callers wait for each other."""
    conn = await connect(dsn)
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", ADVISORY_LOCK_KEY)
        try:
            return await _migrate_locked(conn, use_timescaledb)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", ADVISORY_LOCK_KEY)
    finally:
        await conn.close()


async def _migrate_locked(conn: asyncpg.Connection, use_timescaledb: bool) -> MigrationReport:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " filename text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
    )
    features = await detect(conn)
    if use_timescaledb and features.timescaledb_available and not features.timescaledb_installed:
        await conn.execute("CREATE EXTENSION IF NOT EXISTS timescaledb")
        features = await detect(conn)
        log.info("timescaledb extension created", extra={"license": features.license})
    backend = await recorded_backend(conn) or features.rollup_backend
    tags = (features.tags - {b.value for b in RollupBackend}) | {backend.value}
    done = {r["filename"] for r in await conn.fetch("SELECT filename FROM schema_migrations")}
    applied = []
    for migration in available_migrations():
        if migration.filename in done or (migration.tag and migration.tag not in tags):
            continue
        await _apply(conn, migration)
        applied.append(migration.filename)
        log.info("migration applied", extra={"migration": migration.filename})
    return MigrationReport(tuple(applied), features, backend, await bars_chunk_interval(conn))


async def recorded_backend(conn: asyncpg.Connection) -> RollupBackend | None:
    """The rollup backend chosen when this database was first migrated, if it was."""
    exists = await conn.fetchval("SELECT to_regclass('mg_meta') IS NOT NULL")
    if not exists:
        return None
    value = await conn.fetchval("SELECT value FROM mg_meta WHERE key = 'rollup_backend'")
    return RollupBackend(value) if value else None


async def _apply(conn: asyncpg.Connection, migration: Migration) -> None:
    record = "INSERT INTO schema_migrations (filename) VALUES ($1)"
    if migration.transactional:
        async with conn.transaction():
            await conn.execute(migration.sql)
            await conn.execute(record, migration.filename)
        return
    for statement in migration.sql.split("\n--;;\n"):
        if statement.strip():
            await conn.execute(statement)
    await conn.execute(record, migration.filename)


@idempotent_read
async def pending(executor: Executor) -> list[str]:
    """Migrations every database needs (untagged) that this one has not recorded as applied;
    tagged ones depend on what the server offers, so their absence proves nothing."""
    exists = await executor.fetchval("SELECT to_regclass('schema_migrations') IS NOT NULL")
    done = (
        {r["filename"] for r in await executor.fetch("SELECT filename FROM schema_migrations")}
        if exists
        else set()
    )
    return [m.filename for m in available_migrations() if not m.tag and m.filename not in done]
