"""PostgreSQL restarted under a read loop: reads get UNAVAILABLE or succeed, never INTERNAL,
and all succeed again soon after the server is back, without restarting the gateway.

The server restarted is a throwaway embedded one started by this test (never the machine's
shared cluster).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.settings import Settings
from storage.bars_write import BarIn, upsert_bars
from storage.embedded import EmbeddedPostgres
from storage.features import RollupBackend
from storage.migrations import migrate
from storage.pool import create_pool
from tests.support.live_server import serve_in_thread

QUERY = '{ bars(ticker: "AAPL", timeframe: D1, limit: 5) { time close } }'
RECOVERY_SECONDS = 5.0
DOWN_SECONDS = 1.0


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    server = EmbeddedPostgres(tmp_path / "pgdata", temporary=True)
    try:
        server.create_database()
        yield server
    finally:
        server.stop()


def restart(server: EmbeddedPostgres, done: threading.Event) -> None:
    """Stop the server (fast: sessions are cut), stay down a moment, start it again."""
    inner = server._server
    inner.stop()
    time.sleep(DOWN_SECONDS)
    with inner._lock:
        inner.ensure_postgres_running()
    done.set()


def outcome(response: httpx.Response) -> str:
    if response.status_code != 200:
        return f"HTTP {response.status_code}"
    body = response.json()
    if body.get("errors"):
        return str(body["errors"][0]["extensions"]["code"])
    return "ok" if len(body["data"]["bars"]) == 5 else "wrong answer"


async def test_reads_survive_a_database_restart(embedded: EmbeddedPostgres) -> None:
    await migrate(embedded.url, use_timescaledb=False)
    pool = await create_pool(embedded.url, min_size=1, max_size=2)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    bars = [BarIn("AAPL", start + timedelta(days=i), 1, 2, 0.5, 1.5, 10, 1.2, 1) for i in range(5)]
    await upsert_bars(pool, "1d", bars, RollupBackend.PORTABLE)
    await pool.close()
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, database_url=embedded.url, anonymous_reads=True, cache_ttl_seconds=0,
        db_pool_min_size=4, db_command_timeout=2,
        anonymous_rate_limit_per_minute=0,  # the loop below sends far more than 120/min
    )  # fmt: skip
    back = threading.Event()
    seen: list[str] = []
    with serve_in_thread(create_app(settings), lifespan="on") as url:
        async with httpx.AsyncClient(base_url=url, timeout=10) as client:
            assert outcome(await client.post("/graphql", json={"query": QUERY})) == "ok"
            restarter = threading.Thread(target=restart, args=(embedded, back))
            restarter.start()
            try:
                for _ in range(10_000):  # bounded: until the server is back
                    seen.append(outcome(await client.post("/graphql", json={"query": QUERY})))
                    if back.is_set():
                        break
                    await asyncio.sleep(0.01)
            finally:
                restarter.join(timeout=60)
            assert back.is_set(), "the server did not come back"
            deadline = time.monotonic() + RECOVERY_SECONDS
            after: list[str] = []
            while time.monotonic() < deadline:
                after.append(outcome(await client.post("/graphql", json={"query": QUERY})))
                if after[-5:] == ["ok"] * 5:
                    break
                await asyncio.sleep(0.05)
    assert set(seen) <= {"ok", "UNAVAILABLE"}, seen
    assert "UNAVAILABLE" in seen, "no read met the outage"
    assert set(after) <= {"ok", "UNAVAILABLE"}, after
    assert after[-5:] == ["ok"] * 5, f"not recovered within {RECOVERY_SECONDS} s: {after}"
