"""The scheduled backfill across two real gateway processes sharing one database.

Both run the scheduler on a fast schedule (every 2 seconds, croniter's sixth field); each tick
must be run by one of them, not both: the fake Polygon sees one request per tick while it
fails, the failing symbol is marked failed and retried at the next tick, and once upstream
answers the bars are stored and the symbol marked successful.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from domain.access import Scope
from domain.records import BackfillRun
from domain.timeframes import Timeframe
from storage import backfill_runs, tracked_symbols
from storage.features import RollupBackend
from tests.fakes.polygon_server import FakePolygon, make_bars
from tests.support.databases import Database, Server, Template, cloned_database
from tests.support.gateway import auth, make_key
from tests.support.ports import free_port

SCHEDULE = "* * * * * */2"
AGGREGATES = "/v2/aggs/ticker/AAPL/"
WAIT_STEPS = 600  # x 0.1 s: generous for a loaded machine, bounded all the same


@contextlib.contextmanager
def gateway_process(db: Database, polygon: FakePolygon) -> Iterator[str]:
    """`marketgraph serve` in its own process; yields its origin once /health answers."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": db.url,
        "TIMESCALEDB": "off",
        "DB_POOL_MIN_SIZE": "1",
        "DB_POOL_MAX_SIZE": "4",
        "POLYGON_API_KEY": polygon.api_key,
        "POLYGON_BASE_URL": polygon.url,
        "POLYGON_REQUESTS_PER_MINUTE": "0",
        "BACKFILL_SCHEDULE": SCHEDULE,
        "BACKFILL_LOOKBACK_DAYS": "5",
        "LOG_LEVEL": "warning",
    }
    command = [str(Path(sys.executable).parent / "marketgraph"), "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    origin = f"http://127.0.0.1:{port}"
    try:
        for _ in range(WAIT_STEPS):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{origin}/health", timeout=1).status_code == 200:
                    break
            if process.poll() is not None:
                raise RuntimeError("the gateway exited at start-up")
            time.sleep(0.1)
        yield origin
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest_asyncio.fixture(loop_scope="session")
async def tracked_db(
    server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    async with cloned_database(server, templates, RollupBackend.PORTABLE) as database:
        await tracked_symbols.add_tracked(database.pool, "AAPL", "stock", [Timeframe.D1])
        yield database


async def finished_runs(db: Database) -> list[BackfillRun]:
    return [r for r in await backfill_runs.runs(db.pool) if r.finished_at is not None]


async def wait_for(db: Database, count: int) -> list[BackfillRun]:
    for _ in range(WAIT_STEPS):
        done = await finished_runs(db)
        if len(done) >= count:
            return done
        await asyncio.sleep(0.1)
    raise AssertionError(f"fewer than {count} runs finished")


@pytest.mark.timeout(180)
async def test_two_processes_run_each_tick_once_and_retry_failures(
    tracked_db: Database, fake_polygon: FakePolygon
) -> None:
    fake_polygon.behave(unauthorized=True)
    with (
        gateway_process(tracked_db, fake_polygon) as one,
        gateway_process(tracked_db, fake_polygon) as two,
    ):
        async with httpx.AsyncClient() as http:
            for origin in (one, two):
                health = await http.get(f"{origin}/health")
                assert health.json()["scheduler_running"] is True
        failing = await wait_for(tracked_db, 3)
        # snapshot runs and upstream calls together: the next run may start any moment
        calls = fake_polygon.count(AGGREGATES)
        settled = await finished_runs(tracked_db)
        assert len({r.scheduled_for for r in settled}) == len(settled)
        assert all(r.failed_symbols == 1 and r.successful_symbols == 0 for r in failing)
        assert calls in (len(settled), len(settled) + 1)  # one request per tick, not two
        row = await tracked_symbols.get_tracked(tracked_db.pool, "AAPL")
        assert row is not None and row.backfill_status == "failed" and row.last_error

        now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        fake_polygon.add_bars("AAPL", make_bars(now - timedelta(days=5), 5))
        fake_polygon.behave(unauthorized=False)
        for _ in range(WAIT_STEPS):
            row = await tracked_symbols.get_tracked(tracked_db.pool, "AAPL")
            if row is not None and row.backfill_status == "success":
                break
            await asyncio.sleep(0.1)
        assert row is not None and row.backfill_status == "success" and row.last_error is None
        stored = await tracked_db.pool.fetchval("SELECT count(*) FROM bars WHERE symbol = 'AAPL'")
        assert stored > 0
        imported = [r.records_imported for r in await finished_runs(tracked_db)]
        assert stored in imported  # one run imported them, once
        _, key = await make_key(tracked_db, "ops", Scope.READ)
        async with httpx.AsyncClient() as http:
            metrics = (await http.get(f"{one}/api/v1/metrics", headers=auth(key))).json()
        assert metrics["scheduler"] == {"running": True, "schedule": SCHEDULE}
        assert metrics["last_backfill"]["time"] is not None
