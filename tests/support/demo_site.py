"""A real gateway on 127.0.0.1 over `marketgraph demo` data, for browser tests.

The database is cloned and loaded once per module; servers over it are cheap to start, so
tests choose the settings they need (reads open or keys required).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest_asyncio
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.app import create_app
from gateway.settings import Settings
from storage.demo import load_demo
from storage.features import RollupBackend
from tests.support.databases import Database, Server, Template, cloned_database
from tests.support.live_server import serve_in_thread


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def demo_db(
    server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    async with cloned_database(server, templates) as database:
        await load_demo(database.pool, database.backend)
        yield database


def demo_settings(db: Database, **overrides: Any) -> Settings:
    """The settings these tests rely on, given explicitly: the environment cannot change them."""
    values: dict[str, Any] = {
        "database_url": db.url,
        "timescaledb": "off",
        "db_pool_min_size": 1,
        "db_pool_max_size": 4,
        "polygon_api_key": None,
        "anonymous_reads": True,
        "failed_auth_per_minute": 0,
        "usage_flush_seconds": 0.2,
        "anonymous_rate_limit_per_minute": 0,  # browsers and checks all come from 127.0.0.1
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextlib.contextmanager
def demo_site(db: Database, *, without_rest: bool = False, **overrides: Any) -> Iterator[str]:
    """A gateway over `db` on a free loopback port; yields its origin. `without_rest` answers
    404 for `/api/v1/*`, as a gateway without the REST routes would."""
    app: ASGIApp = create_app(demo_settings(db, **overrides))
    if without_rest:
        app = _WithoutRest(app)
    with serve_in_thread(app, lifespan="on") as url:
        yield url


class _WithoutRest:
    """An older gateway: `/api/v1/*` is not found."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/api/v1/"):
            response = JSONResponse({"detail": "Not Found", "code": "NOT_FOUND"}, 404)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)
