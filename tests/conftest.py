"""Fixtures shared by the whole suite: a real PostgreSQL, migrated templates, per-test clones."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, settings

from storage.features import RollupBackend
from tests.support import databases
from tests.support.databases import Database, Server, Template

# Generated cases are judged by what they draw, never by how fast a shared 2-core machine
# draws or runs them.
settings.register_profile(
    "marketgraph", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("marketgraph")


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


async def _database(
    server: Server, templates: dict[RollupBackend, Template], backend: RollupBackend
) -> AsyncIterator[Database]:
    async with databases.cloned_database(server, templates, backend) as database:
        yield database


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


pytest_plugins = [
    "tests.fakes.polygon_server",
    "tests.support.browser",
    "tests.support.demo_site",
    "tests.support.redis_server",
]
