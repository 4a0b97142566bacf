"""The asyncpg pool: one place that decides how every connection is set up.

Every connection runs in UTC (so `date_trunc`, month arithmetic and bucket labels never depend
on the server's zone) and decodes json/jsonb with orjson.
"""

from __future__ import annotations

from typing import Any

import asyncpg
import orjson
from asyncpg.pool import PoolConnectionProxy

from storage.opening import OPEN_FAILURES, cannot_open
from storage.session_reset import SessionConnection

# A connection as handed out by the pool or opened directly: both run the same queries.
Conn = asyncpg.Connection | PoolConnectionProxy
# Anything that can run a query: the pool itself or one of those connections.
Executor = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy


def _dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


async def init_connection(conn: asyncpg.Connection) -> None:
    """Codecs set once per connection: json and jsonb as Python objects via orjson."""
    for name in ("json", "jsonb"):
        await conn.set_type_codec(
            name, encoder=_dumps, decoder=orjson.loads, schema="pg_catalog", format="text"
        )


SESSION_SETTINGS = {"timezone": "UTC", "application_name": "marketgraph"}
"""What every connection of ours is opened with, pooled or not."""

# Our own writes (stored bars, accounting) run inside a transaction without the requests'
# statement timeout: cancelling them would lose work already paid for, not protect the server.
NO_STATEMENT_TIMEOUT = "SET LOCAL statement_timeout = 0"


async def create_pool(
    dsn: str,
    *,
    min_size: int = 10,
    max_size: int = 20,
    command_timeout: float = 30.0,
    statement_timeout: float = 0,
) -> asyncpg.Pool:
    """Open a pool whose connections all share the codecs and session settings above.

    `statement_timeout` (seconds, 0 = none) is PostgreSQL's own limit on each statement, set
    per connection: the server stops the work, which the client-side `command_timeout` does
    not. Maintenance that legitimately runs long turns it off for itself (storage/caggs.py), and
    writes run without it (`NO_STATEMENT_TIMEOUT`).
    """
    settings = dict(SESSION_SETTINGS)
    if statement_timeout:
        settings["statement_timeout"] = str(max(1, round(statement_timeout * 1000)))  # ms
    try:
        return await asyncpg.create_pool(
            dsn,
            min_size=min(min_size, max_size),
            max_size=max_size,
            command_timeout=command_timeout,
            init=init_connection,
            server_settings=settings,
            connection_class=SessionConnection,  # no reset round trip per release
        )
    except OPEN_FAILURES as exc:
        raise cannot_open(dsn, exc) from exc


async def connect(dsn: str, *, connect_timeout: float = 60.0) -> asyncpg.Connection:
    """One connection with the pool's settings, for CLI tools and migrations
    (`connect_timeout`: seconds the server has to answer, asyncpg's default)."""
    try:
        conn = await asyncpg.connect(
            dsn,
            timeout=connect_timeout,
            server_settings=SESSION_SETTINGS,
        )
    except OPEN_FAILURES as exc:
        raise cannot_open(dsn, exc) from exc
    await init_connection(conn)
    return conn
