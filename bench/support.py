"""What the benchmarks share: a scratch database on a given server or an embedded one, a
served gateway with the floor route beside it, and medians over alternating rounds.

The floor is the same rows fetched with asyncpg and dumped with orjson by a plain route on the
same server, measured in the same run as the path it is compared with (DESIGN.md, Speed).
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from storage.embedded import EmbeddedPostgres

FLOOR_PATH = "/floor"


@contextlib.asynccontextmanager
async def scratch_database(admin_url: str, prefix: str = "mg_bench") -> AsyncIterator[str]:
    """A new database on the server of `admin_url` (its URL), dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    try:
        yield urlunsplit(urlsplit(admin_url)._replace(path="/" + name))
    finally:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()


def on_a_server(database_url: str | None, run: Callable[[str], Coroutine[Any, Any, None]]) -> None:
    """`run(admin_url)` on the server given, or on an embedded PostgreSQL started for it."""
    if database_url:
        asyncio.run(run(database_url))
        return
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedPostgres(Path(tmp) / "pgdata", temporary=True)
        try:
            asyncio.run(run(server.admin_url))
        finally:
            server.stop()


def add_floor(app: Starlette, sql: str) -> Starlette:
    """`GET /floor` on `app`: `sql`'s rows from the app's own pool, dumped with orjson."""

    async def floor(request: Request) -> Response:
        rows = await request.app.state.database.pool.fetch(sql)
        body = orjson.dumps([dict(r) for r in rows], option=orjson.OPT_UTC_Z)
        return Response(body, media_type="application/json")

    app.router.routes.insert(0, Route(FLOOR_PATH, floor))
    return app


def median_and_spread(values: Sequence[float]) -> tuple[float, float, float]:
    """(median, lowest, highest): the figure to quote and how far rounds strayed from it."""
    return statistics.median(values), min(values), max(values)
