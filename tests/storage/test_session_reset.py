"""Pooled connections skip asyncpg's reset round trip unless their session was changed; one
that was changed (a session SET, an advisory lock) comes back to the next request clean."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest_asyncio
from asyncpg.connection import LoggedQuery

from storage.pool import create_pool
from storage.session_reset import session_changed
from tests.support.databases import Database

STORAGE = Path(__file__).resolve().parents[2] / "storage"
SESSION_SQL = re.compile(r"pg_(try_)?advisory_lock|\bLISTEN\b|[\"']SET (?!LOCAL)", re.I)
LOCK = 0x6D675F7265736574


@pytest_asyncio.fixture(loop_scope="session")
async def pool(portable_db: Database) -> AsyncIterator[asyncpg.Pool]:
    single = await create_pool(portable_db.url, min_size=1, max_size=1, statement_timeout=5)
    yield single
    await single.close()


async def _queries_sent(pool: asyncpg.Pool, work: str) -> list[str]:
    """What the one connection runs for `work` (a statement) through to its release."""
    sent: list[str] = []

    def logger(query: LoggedQuery) -> None:
        sent.append(query.query)

    async with pool.acquire() as conn:
        conn.add_query_logger(logger)
    await pool.fetchval(work)
    async with pool.acquire() as conn:
        conn.remove_query_logger(logger)
    return sent


async def test_a_request_statement_costs_no_reset_round_trip(pool: asyncpg.Pool) -> None:
    sent = await _queries_sent(pool, "SELECT 1")
    assert "SELECT 1" in sent
    assert not any("RESET ALL" in query for query in sent)


async def test_a_changed_session_is_reset_before_the_next_request(pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        session_changed(conn)
        await conn.execute("SET work_mem = '7MB'")
        await conn.execute("SELECT pg_advisory_lock($1)", LOCK)
        pid = await conn.fetchval("SELECT pg_backend_pid()")
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT pg_backend_pid()") == pid  # the same connection
        assert await conn.fetchval("SHOW work_mem") != "7MB"
        assert await conn.fetchval("SHOW statement_timeout") == "5s"  # the pool's own setting
        held = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = $1"
        assert await conn.fetchval(held, pid) == 0
    sent = await _queries_sent(pool, "SELECT 2")
    assert not any("RESET ALL" in query for query in sent)  # reset once, then clean again


def test_storage_code_that_changes_the_session_says_so() -> None:
    """Every storage module with a session SET, an advisory lock or LISTEN marks the session."""
    unmarked = [
        path.name
        for path in STORAGE.glob("*.py")
        if path.name != "session_reset.py"
        and SESSION_SQL.search(text := path.read_text())
        and "session_changed(" not in text
        and "asyncpg.connect(" not in text  # a connection of its own, never pooled
    ]
    assert unmarked == []
