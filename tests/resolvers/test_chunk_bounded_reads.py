"""On a hypertable, a read of base bars from a time names that time's chunk in its statement,
and a page before a time names a chunk its bars likely start in, so that even a cached generic
plan leaves the other chunks out (storage/bar_chunks.py, storage/newest_bars.py); answers are
the same as without."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.timeframes import Timeframe
from resolvers.context import make_context
from resolvers.history import historical
from schema import build_schema
from storage.bar_chunks import WEEK, bars_chunk_interval, chunk_start
from storage.bars_write import BarIn, upsert_bars
from storage.features import RollupBackend
from tests.support.databases import Database, Server
from tests.support.graphql import CountingPool, make_services, run
from tests.support.plans import generic_plan_chunks

T0 = datetime(2024, 1, 4, tzinfo=UTC)
BOUND = T0 + timedelta(days=400)  # within the last three of 60 weekly chunks
READS = {  # a chart's first load, and the page before the bars it shows
    "from a time": (
        'bars(ticker: "X:BTCUSD", timeframe: D1, from: $at, limit: 30)',
        chunk_start(BOUND),
        [410.0 + d for d in range(20)],
        3,  # chunks from the bound's to the newest
    ),
    "paging back": (
        'bars(ticker: "X:BTCUSD", timeframe: D1, order: DESC, to: $at, limit: 30)',
        chunk_start(BOUND - 30 * timedelta(days=2)),  # 30 daily bars' usual reach
        [409.0 - d for d in range(30)],
        12,  # from 9 weeks before the bound to the newest: only the lower side is a literal
    ),
}


def test_a_chunk_starts_on_a_thursday_at_or_before_the_time() -> None:
    for time in (T0, T0 + timedelta(days=3, hours=5), T0 - timedelta(microseconds=1)):
        start = chunk_start(time)
        assert start.weekday() == 3 and start.time().isoformat() == "00:00:00"
        assert time - WEEK < start <= time
        assert chunk_start(start) == start


async def test_the_gateway_knows_whether_bars_is_a_hypertable(db: Database, server: Server) -> None:
    # the portable template runs without TimescaleDB where the full build is offered
    expected = db.backend is RollupBackend.CAGGS or server.apache_timescaledb
    assert await bars_chunk_interval(db.pool) == (WEEK if expected else None)


@pytest.mark.parametrize("read", list(READS))
async def test_a_bounded_read_plans_only_the_chunks_it_may_need(db: Database, read: str) -> None:
    field, literal, closes, chunks = READS[read]
    query = f"query Chart($at: DateTime!) {{ {field} {{ time close }} }}"
    chunked = await bars_chunk_interval(db.pool) is not None
    daily = [
        BarIn("X:BTCUSD", T0 + timedelta(days=d), 10, 11, 9, 10 + d, 100) for d in range(420)
    ]  # 60 weeks: 60 chunks on a hypertable
    await upsert_bars(db.pool, Timeframe.D1, daily, db.backend)
    answers, statements = [], []
    for interval in (None, WEEK):
        pool = CountingPool(db.pool)
        services = dataclasses.replace(make_services(pool, db.backend), bar_chunks=interval)
        answers.append(await run(build_schema(), query, services, {"at": BOUND.isoformat()}))
        statements += [sql for sql in pool.statements if "FROM bars r" in sql]
    assert answers[0] == answers[1]
    assert [bar["close"] for bar in answers[1]["data"]["bars"]] == closes
    plain, bounded = statements  # a plain table's read, then a hypertable's
    assert f"'{literal.isoformat()}'" in bounded
    assert "+00:00'" not in plain  # no literal time at all
    if not chunked:
        pytest.skip("bars is a plain table here (no TimescaleDB): the gateway leaves it unbounded")
    planned = [  # as cached plans
        await generic_plan_chunks(db.pool, sql, "X:BTCUSD", 30, BOUND.isoformat())
        for sql in (plain, bounded)
    ]
    assert planned == [60, chunks]


async def test_a_history_from_year_1_is_read_with_chunks_as_without(db: Database) -> None:
    """REST's `/historical` takes any start date (a client asking for everything sends
    `start=0001-01-01`); its chunk would start before any datetime. That was an OverflowError,
    a 500, where `bars` is a hypertable (found by tests/e2e/test_openapi_fuzz.py on
    TimescaleDB); now the read starts from the first datetime."""
    daily = [BarIn("X:BTCUSD", T0 + timedelta(days=d), 10, 11, 9, 10 + d, 100) for d in range(5)]
    await upsert_bars(db.pool, Timeframe.D1, daily, db.backend)
    answers = []
    for interval in (None, WEEK, timedelta(days=30)):
        services = dataclasses.replace(make_services(db.pool, db.backend), bar_chunks=interval)
        _, rows = await historical(
            make_context(services, None), "X:BTCUSD", date(1, 1, 1), date(2024, 1, 6), "1d", None
        )
        answers.append([row["close"] for row in rows])
    assert answers == [[10.0, 11.0, 12.0]] * 3
