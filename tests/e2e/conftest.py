"""Fixtures shared by end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest_asyncio

from domain.access import Scope
from storage import api_keys
from tests.support.databases import Database


@pytest_asyncio.fixture(loop_scope="session")
async def fetching_client(portable_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client sending a key with the `fetch` scope, made in `portable_db`."""
    _, key = await api_keys.create_key(portable_db.pool, "fetcher", [Scope.FETCH])
    async with httpx.AsyncClient(timeout=60, headers={"X-API-Key": key}) as http:
        yield http
