"""Fixtures shared by end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from domain.access import Scope
from storage import api_keys
from tests.support.databases import Database
from tests.support.live_server import serve_in_thread


@pytest_asyncio.fixture(loop_scope="session")
async def fetching_client(portable_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client sending a key with the `fetch` scope, made in `portable_db`."""
    _, key = await api_keys.create_key(portable_db.pool, "fetcher", [Scope.FETCH])
    async with httpx.AsyncClient(timeout=60, headers={"X-API-Key": key}) as http:
        yield http


@pytest.fixture
def origin(app: Starlette) -> Iterator[str]:
    """The module's `app` on a real port (websocket clients need one), lifespan included."""
    with serve_in_thread(app, lifespan="on") as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def key(portable_db: Database) -> str:
    """A key with the `read` scope, made in `portable_db`."""
    _, raw = await api_keys.create_key(portable_db.pool, "reader", [Scope.READ])
    return raw
