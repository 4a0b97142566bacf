"""Fixtures shared by the whole suite: a real PostgreSQL, migrated templates, per-test clones."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import asyncpg
import pytest
import pytest_asyncio

from storage.features import RollupBackend
from storage.pool import create_pool
from tests.support import databases
from tests.support.databases import Server, Template, with_database


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
    else:
        yield from databases.embedded_server(tmp_path_factory.mktemp("embedded"))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def server(server_url: str) -> Server:
    return await databases.probe_server(server_url)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def templates(server: Server) -> AsyncIterator[dict[RollupBackend, Template]]:
    made = {b: await databases.make_template(server, b) for b in RollupBackend}
    yield made
    for template in made.values():
        if template.name:
            await databases.drop(server, template.name)


@dataclass(frozen=True, slots=True)
class Database:
    """A fresh migrated database for one test."""

    url: str
    backend: RollupBackend
    pool: asyncpg.Pool


async def _database(
    server: Server, templates: dict[RollupBackend, Template], backend: RollupBackend
) -> AsyncIterator[Database]:
    template = templates[backend]
    if template.skip_reason:
        pytest.skip(template.skip_reason)
    name = await databases.clone(server, template)
    url = with_database(server.admin_url, name)
    pool = await create_pool(url, min_size=1, max_size=4)
    try:
        yield Database(url, backend, pool)
    finally:
        await pool.close()
        await databases.drop(server, name)


@pytest_asyncio.fixture(loop_scope="session", params=list(RollupBackend), ids=lambda b: b.value)
async def db(
    request: pytest.FixtureRequest, server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    """A database on each rollup backend the server offers (the others skip, saying why)."""
    async for database in _database(server, templates, request.param):
        yield database


@pytest_asyncio.fixture(loop_scope="session")
async def portable_db(
    server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    """A database on the backend every PostgreSQL offers, for tests independent of rollups."""
    async for database in _database(server, templates, RollupBackend.PORTABLE):
        yield database


@pytest_asyncio.fixture(loop_scope="session")
async def caggs_db(
    server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    """A database with continuous aggregates; skips, saying why, without full TimescaleDB."""
    async for database in _database(server, templates, RollupBackend.CAGGS):
        yield database


pytest_plugins = ["tests.fakes.polygon_server"]
