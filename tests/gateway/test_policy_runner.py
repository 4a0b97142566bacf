"""The gateway's policy loop: it compresses at start-up where full TimescaleDB runs, and is a
logged no-op anywhere else (the same settings work against any PostgreSQL)."""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta

import pytest

from domain.timeframes import Timeframe
from gateway.policies import PolicyRunner
from storage.bars_read import fetch_bars
from storage.bars_write import BarIn, upsert_bars
from storage.policies import Policies
from tests.support.bars import assert_bars_equal, expected_rollup, minute_bars
from tests.support.databases import Database
from tests.support.materialized import compressed_chunks

SYMBOLS = ["AAPL", "X:BTCUSD"]
START, END = datetime(2024, 2, 19, tzinfo=UTC), datetime(2024, 3, 11, tzinfo=UTC)


async def _store(db: Database) -> list[BarIn]:
    rng = random.Random(1)
    bars = [b for s in SYMBOLS for b in minute_bars(rng, s, START, END)]
    await upsert_bars(db.pool, Timeframe.M1, bars, db.backend)
    return bars


async def test_runner_compresses_at_start_up(caggs_db: Database) -> None:
    bars = await _store(caggs_db)
    policies = Policies(compress_after=timedelta(days=1))
    async with PolicyRunner(caggs_db.pool, caggs_db.backend, policies).running_while() as runner:
        assert runner.active
        for _ in range(600):  # the first run starts in the background at once
            compressed, chunks = await compressed_chunks(caggs_db.pool)
            if compressed == chunks:
                break
            await asyncio.sleep(0.2)
    assert compressed == chunks > 0
    rows = await fetch_bars(caggs_db.pool, SYMBOLS, Timeframe.M1, limit=100_000)
    assert_bars_equal(rows, expected_rollup(bars, Timeframe.M1))


async def test_runner_is_a_logged_no_op_without_full_timescaledb(
    portable_db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    bars = await _store(portable_db)
    policies = Policies(compress_after=timedelta(days=1), retain_minute_bars_for=timedelta(days=8))
    with caplog.at_level(logging.WARNING, logger="gateway.policies"):
        runner = PolicyRunner(portable_db.pool, portable_db.backend, policies)
        async with runner.running_while():
            assert not runner.active
    assert "RETAIN_MINUTE_BARS_FOR are ignored" in caplog.text
    rows = await fetch_bars(portable_db.pool, SYMBOLS, Timeframe.M1, limit=100_000)
    assert_bars_equal(rows, expected_rollup(bars, Timeframe.M1))  # nothing deleted


async def test_runner_without_settings_does_nothing(caggs_db: Database) -> None:
    await _store(caggs_db)
    async with PolicyRunner(caggs_db.pool, caggs_db.backend, Policies()).running_while() as runner:
        assert not runner.active
    assert (await compressed_chunks(caggs_db.pool))[0] == 0
