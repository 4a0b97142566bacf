"""Which database the gateway talks to, migrated and pooled, and how it is let go.

`DATABASE_URL` unset means the embedded PostgreSQL (storage/embedded.py), so `marketgraph
serve` works on a fresh machine with nothing configured.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import asyncpg

from gateway.settings import Settings
from storage import caggs
from storage.embedded import EmbeddedPostgres, default_data_dir
from storage.features import RollupBackend
from storage.migrations import migrate
from storage.pool import create_pool
from storage.replicas import ReplicaSet

log = logging.getLogger(__name__)


def resolve_database_url(settings: Settings) -> tuple[str, EmbeddedPostgres | None]:
    """The configured URL, or the embedded server's (started here) when none is configured."""
    if settings.database_url:
        return settings.database_url, None
    data_dir = (
        Path(settings.embedded_data_dir) if settings.embedded_data_dir else default_data_dir()
    )
    server = EmbeddedPostgres(data_dir)
    try:
        server.create_database()
    except BaseException:
        server.stop()
        raise
    return server.url, server


@dataclass
class OpenDatabase:
    """A migrated database with its pool; `close()` releases both."""

    pool: asyncpg.Pool
    backend: RollupBackend
    embedded: EmbeddedPostgres | None
    url: str  # for connections of their own (the live listener)
    chunk_interval: timedelta | None = None  # `bars` is a TimescaleDB hypertable cut at this

    async def close(self) -> None:
        await self.pool.close()
        if self.embedded is not None:
            self.embedded.stop()


async def open_database(settings: Settings) -> OpenDatabase:
    """Migrate (safe from several workers at once), pool, and finish interrupted refreshes.

    If any step fails, what the earlier steps opened (embedded server, pool) is closed.
    """
    url, embedded = resolve_database_url(settings)
    async with contextlib.AsyncExitStack() as opened:
        if embedded is not None:
            opened.callback(embedded.stop)
        report = await migrate(url, use_timescaledb=settings.timescaledb == "auto")
        pool = await create_pool(
            url,
            min_size=settings.db_pool_min_size,
            max_size=settings.db_pool_max_size,
            command_timeout=settings.db_command_timeout,
            statement_timeout=settings.statement_timeout_seconds,
        )
        opened.push_async_callback(pool.close)
        if report.rollup_backend is RollupBackend.CAGGS:
            async with pool.acquire() as conn:
                drained = await caggs.drain_pending(conn)
            if drained:
                log.info("finished interrupted rollup refreshes", extra={"ranges": drained})
        opened.pop_all()  # everything opened: from here on `OpenDatabase.close()` owns it
    chunk_interval = report.bars_chunk_interval
    log.info(
        "database ready",
        extra={
            "rollup_backend": report.rollup_backend.value,
            "timescaledb": report.features.license or "absent",
            "embedded": embedded is not None,
            "bars_hypertable": chunk_interval is not None,
            "bars_chunk_interval": str(chunk_interval) if chunk_interval else None,
            "migrations_applied": list(report.applied),
        },
    )
    return OpenDatabase(pool, report.rollup_backend, embedded, url, chunk_interval)


@contextlib.asynccontextmanager
async def read_replicas(
    settings: Settings, primary: asyncpg.Pool
) -> AsyncIterator[ReplicaSet | None]:
    """DATABASE_READ_URLS as a sampled `ReplicaSet` while the block runs (None without any)."""
    urls = settings.read_urls()
    if not urls:
        yield None
        return
    replicas = ReplicaSet(
        primary,
        urls,
        max_lag_seconds=settings.max_replica_lag_seconds,
        pool_max_size=settings.db_pool_max_size,
        command_timeout=settings.db_command_timeout,
        statement_timeout=settings.statement_timeout_seconds,
    )
    async with replicas.sampling(settings.replica_check_seconds):
        log.info("read replicas", extra={"replicas": len(urls), "usable": len(replicas.usable())})
        yield replicas
