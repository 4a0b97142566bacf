"""Test databases: one server per session, a migrated template per backend, a clone per test.

TEST_DATABASE_URL names a server to use (any database on it; the suite creates its own);
without it the suite starts a throwaway embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from storage.features import RollupBackend, detect
from storage.migrations import migrate
from storage.pool import create_pool

_counter = itertools.count()


def with_database(url: str, name: str) -> str:
    """The same server URL pointing at database `name` (works for socket URLs too)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@dataclass(frozen=True, slots=True)
class Server:
    """A PostgreSQL server the suite may create databases on."""

    admin_url: str
    full_timescaledb: bool
    apache_timescaledb: bool

    async def admin(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.admin_url)


@dataclass(frozen=True, slots=True)
class Database:
    """A fresh migrated database for one test (or one module, see `cloned_database`)."""

    url: str
    backend: RollupBackend
    pool: asyncpg.Pool

    @property
    def name(self) -> str:
        """The database's name (also for a socket URL, `.../name?host=/dir`)."""
        return urlsplit(self.url).path.lstrip("/")


@dataclass(frozen=True, slots=True)
class Template:
    """A migrated database tests clone; `skip_reason` set when this backend is unavailable."""

    backend: RollupBackend
    name: str | None
    skip_reason: str | None = None


async def probe_server(admin_url: str) -> Server:
    conn = await asyncpg.connect(admin_url)
    try:
        features = await detect(conn)
        full = features.timescaledb_available and await _license_is_full(conn)
        return Server(admin_url, full, features.timescaledb_available and not full)
    finally:
        await conn.close()


async def _license_is_full(conn: asyncpg.Connection) -> bool:
    value = await conn.fetchval("SELECT current_setting('timescaledb.license', true)")
    return bool(value == "timescale")


async def make_template(server: Server, backend: RollupBackend) -> Template:
    """Migrate a fresh database for `backend` and freeze it as a template."""
    if backend is RollupBackend.CAGGS and not server.full_timescaledb:
        return Template(
            backend,
            None,
            "continuous aggregates need full TimescaleDB (timescaledb.license = 'timescale'); "
            "this server has " + ("the Apache-only build" if server.apache_timescaledb else "none"),
        )
    name = f"mg_tpl_{backend.value}_{uuid.uuid4().hex[:8]}"
    conn = await server.admin()
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    # On a full TimescaleDB server the portable template runs without the extension, so both
    # backends are exercised there; elsewhere it uses whatever the server offers.
    use_tsdb = backend is RollupBackend.CAGGS or not server.full_timescaledb
    report = await migrate(with_database(server.admin_url, name), use_timescaledb=use_tsdb)
    if report.rollup_backend is not backend:
        raise RuntimeError(f"template {name} migrated as {report.rollup_backend}, not {backend}")
    await _freeze(server, name)
    return Template(backend, name)


async def _freeze(server: Server, name: str) -> None:
    """No connections may stay on a template (TimescaleDB's workers would block cloning)."""
    conn = await server.admin()
    try:
        await conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true')
        await conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await conn.close()


async def clone(server: Server, template: Template) -> str:
    """A fresh database copied from `template`; returns its name."""
    assert template.name is not None
    name = f"mg_t_{os.getpid()}_{next(_counter)}"
    conn = await server.admin()
    try:
        for attempt in range(50):
            try:
                await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template.name}"')
                return name
            except asyncpg.ObjectInUseError:
                if attempt == 49:
                    raise
                await asyncio.sleep(0.1)
    finally:
        await conn.close()
    raise AssertionError("unreachable")


async def drop(server: Server, name: str) -> None:
    conn = await server.admin()
    try:
        await conn.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE false')
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def cloned_database(
    server: Server,
    templates: dict[RollupBackend, Template],
    backend: RollupBackend = RollupBackend.PORTABLE,
) -> AsyncIterator[Database]:
    """A fresh migrated database copied from `backend`'s template (skipping, saying why, where
    the server lacks it); the per-test fixtures use it, and a module whose tests only read can
    use it to load its data once."""
    template = templates[backend]
    if template.skip_reason:
        pytest.skip(template.skip_reason)
    name = await clone(server, template)
    url = with_database(server.admin_url, name)
    pool = await create_pool(url, min_size=1, max_size=4)
    try:
        yield Database(url, backend, pool)
    finally:
        await pool.close()
        await drop(server, name)


async def empty_database(server: Server, name: str) -> str:
    """A new, unmigrated database `name` (dropped first if left over); returns its URL."""
    conn = await server.admin()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return with_database(server.admin_url, name)


def embedded_server(base: Path) -> Iterator[str]:
    """Start a throwaway embedded server; yields its admin URL, deletes it afterwards."""
    from storage.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(base / "pgdata", temporary=True)
    try:
        yield server.admin_url
    finally:
        server.stop()
