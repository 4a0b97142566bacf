"""On a hypertable, a read of base bars from a time names that time's chunk in its statement, so
that even a cached generic plan leaves the older chunks out (storage/bar_chunks.py); answers are
the same as without."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.timeframes import Timeframe
from schema import build_schema
from storage.bar_chunks import CHUNK, bars_are_chunked, chunk_start
from storage.bars_write import BarIn, upsert_bars
from storage.features import RollupBackend
from tests.support.databases import Database, Server
from tests.support.graphql import CountingPool, make_services, run

T0 = datetime(2024, 1, 4, tzinfo=UTC)
QUERY = """
query Chart($from: DateTime!) {
  bars(ticker: "X:BTCUSD", timeframe: D1, from: $from, limit: 30) { time close }
}
"""


def test_a_chunk_starts_on_a_thursday_at_or_before_the_time() -> None:
    for time in (T0, T0 + timedelta(days=3, hours=5), T0 - timedelta(microseconds=1)):
        start = chunk_start(time)
        assert start.weekday() == 3 and start.time().isoformat() == "00:00:00"
        assert time - CHUNK < start <= time
        assert chunk_start(start) == start


async def test_the_gateway_knows_whether_bars_is_a_hypertable(db: Database, server: Server) -> None:
    # the portable template runs without TimescaleDB where the full build is offered
    expected = db.backend is RollupBackend.CAGGS or server.apache_timescaledb
    assert await bars_are_chunked(db.pool) is expected


def _known(plan: dict[str, Any]) -> int:
    """Chunks of `bars` the plan holds: those it scans, and those each call's executor startup
    excludes (the work a generic plan does on every call)."""
    here = int(plan.get("Relation Name", "").startswith("_hyper_"))
    here += int(plan.get("Chunks excluded during startup", 0))
    return here + sum(_known(child) for child in plan.get("Plans", ()))


async def test_a_read_from_a_time_plans_only_the_chunks_after_it(db: Database) -> None:
    chunked = await bars_are_chunked(db.pool)
    daily = [
        BarIn("X:BTCUSD", T0 + timedelta(days=d), 10, 11, 9, 10 + d, 100) for d in range(420)
    ]  # 60 weeks: 60 chunks on a hypertable
    await upsert_bars(db.pool, Timeframe.D1, daily, db.backend)
    start = T0 + timedelta(days=400)  # within the last three chunks
    answers, statements = [], []
    for flag in (False, True):
        pool = CountingPool(db.pool)
        services = dataclasses.replace(make_services(pool, db.backend), chunked_bars=flag)
        answers.append(await run(build_schema(), QUERY, services, {"from": start.isoformat()}))
        statements += [sql for sql in pool.statements if "FROM bars r" in sql]
    assert answers[0] == answers[1]
    assert [bar["close"] for bar in answers[1]["data"]["bars"]] == [410.0 + d for d in range(20)]
    plain, bounded = statements
    assert f"'{chunk_start(start).isoformat()}'" in bounded
    assert "+00:00'" not in plain  # no literal time at all
    if not chunked:
        pytest.skip("bars is a plain table here (no TimescaleDB): the gateway leaves it unbounded")
    planned = []
    async with db.pool.acquire() as conn:
        await conn.execute("SET plan_cache_mode = force_generic_plan")  # as a cached plan
        try:
            for name, sql in (("plain", plain), ("bounded", bounded)):
                await conn.execute(f"PREPARE {name} AS {sql}")
                raw = await conn.fetchval(
                    f"EXPLAIN (FORMAT JSON) EXECUTE {name}('X:BTCUSD', 30, '{start.isoformat()}')"
                )
                planned.append(
                    _known((json.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"])
                )
        finally:
            await conn.execute("DEALLOCATE ALL")
            await conn.execute("RESET plan_cache_mode")
    assert planned[0] >= 60 and planned[1] <= 3, planned
