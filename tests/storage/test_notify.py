"""Notifications from the write path: exact runs, under PostgreSQL's payload limit, atomic."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from domain.timeframes import Timeframe
from storage.bars_write import BarIn, upsert_bars
from storage.notify import (
    CHANNEL,
    MAX_PAYLOAD_BYTES,
    BarsWritten,
    Stage,
    decode,
    encode,
    written_runs,
)
from tests.support.databases import Database

T0 = datetime(2024, 5, 6, 13, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def bar(symbol: str, minutes: int) -> BarIn:
    return BarIn(symbol, T0 + minutes * MINUTE, 1, 2, 0.5, 1.5, 10)


def test_runs_join_bars_one_step_apart_only() -> None:
    times = [T0, T0 + MINUTE, T0 + 3 * MINUTE, T0 + 2 * MINUTE, T0 + 10 * MINUTE]
    runs = written_runs(["A"] * 5, times, MINUTE)
    assert runs == {"A": [(T0, T0 + 3 * MINUTE), (T0 + 10 * MINUTE, T0 + 10 * MINUTE)]}


@pytest.mark.parametrize("tickers", [1, 400, 3000])
def test_payloads_stay_under_the_limit_and_lose_nothing(tickers: int) -> None:
    runs = {
        f"X:T{i:05d}USD": [
            (T0 + 2 * k * MINUTE, T0 + (2 * k + 1) * MINUTE) for k in range(i % 9 + 1)
        ]
        for i in range(tickers)
    }
    payloads = encode(Timeframe.M1, Stage.ALL, runs)
    sizes = [len(p.encode()) + 21 for p in payloads]  # plus the largest transaction id prefix
    assert max(sizes) <= MAX_PAYLOAD_BYTES
    if len(payloads) > 1:  # split only when needed: each payload is close to full
        assert min(sizes[:-1]) > MAX_PAYLOAD_BYTES - 200
    decoded = [decode(f"{2**63} {p}") for p in payloads]
    merged: dict[str, list[tuple[datetime, datetime]]] = {}
    for event in decoded:
        assert isinstance(event, BarsWritten) and event.xid == 2**63
        for ticker, ticker_runs in event.runs.items():
            merged.setdefault(ticker, []).extend(ticker_runs)
    assert merged == runs


def test_unreadable_payloads_are_ignored() -> None:
    assert decode("12 {not json") is None
    assert decode('12 {"tf": "2m", "stage": "all", "runs": {}}') is None


async def listen(database: Database) -> tuple[asyncpg.Connection, asyncio.Queue[str]]:
    conn = await asyncpg.connect(database.url)
    received: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener(CHANNEL, lambda *args: received.put_nowait(args[3]))
    return conn, received


async def drain(received: asyncio.Queue[str], conn: asyncpg.Connection) -> list[BarsWritten]:
    await conn.execute("SELECT 1")  # notifications sent before this are delivered by now
    events = []
    while not received.empty():
        event = decode(received.get_nowait())
        assert event is not None
        events.append(event)
    return events


async def test_a_write_announces_exactly_what_changed(portable_db: Database) -> None:
    conn, received = await listen(portable_db)
    try:
        await upsert_bars(
            portable_db.pool, "1m", [bar("AAPL", m) for m in (0, 1, 2, 5)], portable_db.backend
        )
        (event,) = await drain(received, conn)
        assert (event.timeframe, event.stage) == (Timeframe.M1, Stage.ALL)
        assert event.runs == {"AAPL": [(T0, T0 + 2 * MINUTE), (T0 + 5 * MINUTE,) * 2]}
        # the same bars again change nothing and announce nothing; one changed bar is announced
        await upsert_bars(
            portable_db.pool, "1m", [bar("AAPL", m) for m in (0, 1, 2)], portable_db.backend
        )
        assert await drain(received, conn) == []
        changed = bar("AAPL", 1)._replace(close=1.75)
        await upsert_bars(portable_db.pool, "1m", [bar("AAPL", 0), changed], portable_db.backend)
        (event,) = await drain(received, conn)
        assert event.runs == {"AAPL": [(T0 + MINUTE, T0 + MINUTE)]}
    finally:
        await conn.close()


async def test_a_write_that_rolls_back_announces_nothing(portable_db: Database) -> None:
    conn, received = await listen(portable_db)
    try:
        await portable_db.pool.execute(  # a trigger makes the write fail after the upsert
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'refused'; END $$;"
            " CREATE TRIGGER refuse AFTER INSERT ON bars_5m FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
        with pytest.raises(asyncpg.RaiseError):
            await upsert_bars(portable_db.pool, "1m", [bar("AAPL", 0)], portable_db.backend)
        assert await drain(received, conn) == []
    finally:
        await conn.close()


async def test_a_large_write_is_announced_in_several_notifications(portable_db: Database) -> None:
    conn, received = await listen(portable_db)
    try:
        bars = [bar(f"X:T{i:04d}USD", 2 * k) for i in range(600) for k in range(3)]
        await upsert_bars(portable_db.pool, "1m", bars, portable_db.backend)
        events = await drain(received, conn)
        assert len(events) > 1 and len({e.xid for e in events}) == 1
        announced = {(t, a) for e in events for t, runs in e.runs.items() for a, _ in runs}
        assert announced == {(b.symbol, b.time) for b in bars}
    finally:
        await conn.close()
