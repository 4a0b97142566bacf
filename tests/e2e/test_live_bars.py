"""The `bars` subscription through a real server (uvicorn on 127.0.0.1) and real websockets.

Bars are written by another process (tests/support/ingest_process.py) through the write path,
so every update crosses PostgreSQL's NOTIFY. To know that every update of a write has arrived
without waiting on a clock, each test ends its writes with a sentinel bar of another ticker
the client also subscribed to: the hub handles notifications in commit order, so once the
sentinel arrives, everything written before it has been delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from domain.access import Scope
from gateway.app import create_app
from gateway.settings import Settings
from storage import api_keys
from storage.bars_write import BarIn, upsert_bars
from storage.listener import APPLICATION_NAME
from tests.support.databases import Database
from tests.support.ingest_process import minute
from tests.support.live_client import LiveClient, bars_of, live_client
from tests.support.live_server import serve_in_thread
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
T0 = datetime(2024, 5, 6, 13, 30, tzinfo=UTC)
SENTINEL = "X:ENDUSD"


def settings_for(database: Database, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": database.url,
        "timescaledb": "auto" if database.backend.value == "caggs" else "off",
        "db_pool_min_size": 1,
        "db_pool_max_size": 4,
        "polygon_api_key": None,
        **overrides,
    }
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@pytest.fixture
def app(portable_db: Database) -> Starlette:
    return create_app(settings_for(portable_db))


async def ingest(database: Database, ticker: str, start: datetime, count: int, batch: int) -> None:
    """Write from another process, through the write path."""
    command = [sys.executable, "-m", "tests.support.ingest_process", database.url, ticker]
    command += [start.isoformat(), str(count), str(batch), database.backend.value]
    process = await asyncio.create_subprocess_exec(*command, cwd=ROOT)
    assert await process.wait() == 0


async def write_sentinel(database: Database, n: int = 0) -> None:
    bar = BarIn(SENTINEL, T0 + timedelta(minutes=n), 1, 1, 1, 1, 1)
    await upsert_bars(database.pool, "1m", [bar], database.backend)


async def until_sentinel(client: LiveClient) -> list[dict[str, Any]]:
    """Every bar received (other than the sentinel's) until the sentinel arrives."""
    received: list[dict[str, Any]] = []
    for _ in range(10_000):
        bars = bars_of(await client.receive())
        received += [b for b in bars if b["ticker"] != SENTINEL]
        if any(b["ticker"] == SENTINEL for b in bars):
            return received
    raise AssertionError("the sentinel never arrived")


def expected_minutes(ticker: str, start: datetime, count: int) -> list[tuple[str, str, float]]:
    return [
        (ticker, (start + timedelta(minutes=i)).isoformat().replace("+00:00", "Z"), i + 1.0)
        for i in range(count)
    ]


def summary(bars: list[dict[str, Any]]) -> list[tuple[str, str, float]]:
    return [(b["ticker"], b["time"], b["volume"]) for b in bars]


@contextlib.asynccontextmanager
async def subscribed(
    origin: str, key: str, tickers: list[str], **options: Any
) -> AsyncIterator[tuple[LiveClient, list[dict[str, Any]]]]:
    """A client subscribed to `tickers` (M1 unless `timeframe=`), with its first message."""
    async with live_client(origin) as client:
        assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
        yield client, bars_of(await client.subscribe("1", tickers, **options))


async def test_receives_exactly_the_bars_written_after_subscribing_in_order(
    portable_db: Database, origin: str, key: str
) -> None:
    await ingest(portable_db, "AAPL", T0 - timedelta(hours=1), 30, 10)  # before: not pushed
    async with subscribed(origin, key, ["AAPL", SENTINEL]) as (client, first):
        assert first == []
        await ingest(portable_db, "AAPL", T0, 200, 7)
        await ingest(portable_db, "MSFT", T0, 5, 5)  # not subscribed
        await write_sentinel(portable_db)
        assert summary(await until_sentinel(client)) == expected_minutes("AAPL", T0, 200)


async def test_since_replays_then_goes_live_without_gap_or_duplicate(
    portable_db: Database, origin: str, key: str
) -> None:
    """The writer keeps writing while the subscription replays: every bar arrives once."""
    await ingest(portable_db, "AAPL", T0, 100, 50)
    writer = asyncio.create_task(ingest(portable_db, "AAPL", T0 + timedelta(minutes=100), 400, 3))
    try:
        since = (T0 + timedelta(minutes=40)).isoformat()
        async with subscribed(origin, key, ["AAPL", SENTINEL], since=since) as (client, first):
            await writer
            await write_sentinel(portable_db)
            received = summary(first) + summary(await until_sentinel(client))
    finally:
        await writer
    later = T0 + timedelta(minutes=100)
    assert received == expected_minutes("AAPL", T0, 100)[40:] + expected_minutes("AAPL", later, 400)


async def test_rollup_subscribers_get_the_updated_bucket(db: Database) -> None:
    """Both rollup backends: a 5m subscriber gets each bucket as its minutes arrive."""
    _, key = await api_keys.create_key(db.pool, "live", [Scope.READ])
    with serve_in_thread(create_app(settings_for(db)), lifespan="on") as origin:
        async with subscribed(origin, key, ["AAPL", SENTINEL], timeframe="M5") as (client, _):
            await ingest(db, "AAPL", T0, 7, 1)
            await write_sentinel(db)
            pushed = summary(await until_sentinel(client))
    at = ["2024-05-06T13:30:00Z", "2024-05-06T13:35:00Z"]
    # writes that arrive together are read together: a bucket may skip intermediate states,
    # but each push is a newer state (volumes 1, 1+2, ... grow), in time order, and the last
    # push of each bucket is its final state
    assert [time for _, time, _ in pushed] == sorted(time for _, time, _ in pushed)
    for bucket, final in zip(at, (15.0, 13.0), strict=True):
        volumes = [volume for _, time, volume in pushed if time == bucket]
        assert volumes == sorted(set(volumes)) and volumes[-1] == final


async def test_no_key_unknown_key_or_a_key_without_read_is_refused_at_connection_init(
    portable_db: Database, origin: str, key: str
) -> None:
    _, scopeless = await api_keys.create_key(portable_db.pool, "scopeless", [Scope.READ])
    await portable_db.pool.execute("UPDATE api_keys SET scopes = '{}' WHERE name = 'scopeless'")
    refusals = [
        ({}, 4401),
        ({"X-API-Key": "mg_" + "A" * 43}, 4401),
        ({"Authorization": f"Bearer {scopeless}"}, 4403),
    ]
    for payload, code in refusals:
        async with live_client(origin) as client:
            await client.send({"type": "connection_init", "payload": payload})
            assert await client.close_code() == code, payload
    async with live_client(origin, subprotocols=["graphql-ws"]) as legacy:  # the old protocol
        assert await legacy.close_code() == 4406
    for payload in ({"X-API-Key": key}, {"Authorization": f"Bearer {key}"}):
        async with live_client(origin) as client:
            assert (await client.init(payload))["type"] == "connection_ack"


async def test_a_key_header_on_the_upgrade_request_also_authenticates(
    origin: str, key: str
) -> None:
    async with live_client(origin, additional_headers={"X-API-Key": key}) as client:
        assert (await client.init())["type"] == "connection_ack"
        assert bars_of(await client.subscribe("1", ["AAPL"])) == []


async def test_the_per_key_limit_refuses_the_next_subscription_until_one_ends(
    portable_db: Database, key: str
) -> None:
    app = create_app(settings_for(portable_db, max_subscriptions_per_key=2))
    with serve_in_thread(app, lifespan="on") as origin:
        async with live_client(origin) as one, live_client(origin) as two:
            for client in (one, two):
                await client.init({"X-API-Key": key})
            assert bars_of(await one.subscribe("a", ["AAPL"])) == []
            assert bars_of(await two.subscribe("b", ["MSFT"])) == []
            refused = await two.subscribe("c", ["SPY"])
            assert refused["type"] == "error" and refused["id"] == "c"
            assert refused["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
            await one.send({"id": "a", "type": "complete"})
            for _ in range(1000):  # the server unsubscribes once it handled `complete`
                if app.state.live.subscribers == 1:
                    break
                await asyncio.sleep(0.01)
            assert bars_of(await two.subscribe("d", ["SPY"])) == []


async def until(condition: Any, what: str) -> None:
    """Wait (bounded) for a server-side condition the test cannot be told about."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_a_slow_consumer_is_dropped_while_others_keep_receiving(
    portable_db: Database, key: str
) -> None:
    """The slow client stops reading its socket (small kernel buffers both ends), so the
    server's sends to it block; SUBSCRIPTION_QUEUE_SIZE updates behind, it is let go and
    closed with 4008. The fast client reads each write before the next is made."""
    app = create_app(settings_for(portable_db, subscription_queue_size=3))
    with serve_in_thread(app, lifespan="on", send_buffer=65536) as origin:
        async with (
            subscribed(origin, key, ["AAPL"]) as (fast, _),
            live_client(origin, max_size=None, max_queue=1, receive_buffer=4096) as slow,
        ):
            await slow.init({"X-API-Key": key})
            await slow.subscribe("1", ["AAPL"])
            slow.socket.transport.pause_reading()
            received: list[dict[str, Any]] = []
            for write in range(200):
                if app.state.live.dropped:
                    break
                bars = [minute("AAPL", T0, i) for i in range(write * 200, write * 200 + 200)]
                await upsert_bars(portable_db.pool, "1m", bars, portable_db.backend)
                received += bars_of(await fast.receive())
            assert app.state.live.dropped == 1 and app.state.live.subscribers == 1
            slow.socket.transport.resume_reading()
            assert await slow.close_code() == 4008
            await upsert_bars(
                portable_db.pool, "1m", [minute("AAPL", T0, 10**5)], portable_db.backend
            )
            received += bars_of(await fast.receive())
    last = expected_minutes("AAPL", T0, 10**5 + 1)[-1]
    assert summary(received) == [*expected_minutes("AAPL", T0, write * 200), last]


async def test_a_database_restart_is_reported_then_updates_resume(
    portable_db: Database, server_url: str, app: Starlette, origin: str, key: str
) -> None:
    """A restart is emulated by terminating the listener's backend from an admin connection
    (`pg_terminate_backend`): the connection drops exactly as in a restart, while the test's
    database stays up. Subscribers get an UNAVAILABLE error in a `next`, then live updates."""
    async with subscribed(origin, key, ["AAPL", SENTINEL]) as (client, _):
        listener = app.state.live_listener
        admin = await asyncpg.connect(server_url)
        try:
            terminated = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = $1 AND datname = $2",
                APPLICATION_NAME,
                portable_db.name,
            )
        finally:
            await admin.close()
        assert terminated == 1
        notice = await client.receive()
        assert notice["type"] == "next" and notice["payload"]["data"] is None
        assert notice["payload"]["errors"][0]["extensions"]["code"] == "UNAVAILABLE"
        await until(lambda: listener.connections == 2, "the listener reconnected")
        await ingest(portable_db, "AAPL", T0, 20, 5)
        await write_sentinel(portable_db)
        assert summary(await until_sentinel(client)) == expected_minutes("AAPL", T0, 20)


@contextlib.contextmanager
def worker_process(database: Database) -> Iterator[str]:
    """A gateway in a process of its own (`uvicorn gateway.app:serve_app`), like a worker."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database.url, "TIMESCALEDB": "off", "LOG_LEVEL": "warning"}
    command = [sys.executable, "-m", "uvicorn", "gateway.app:serve_app", "--factory"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
    try:
        for _ in range(3000):
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            if process.poll() is not None:
                raise RuntimeError("the worker exited")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


async def test_two_worker_processes_each_deliver_to_their_own_subscribers(
    portable_db: Database, key: str
) -> None:
    with worker_process(portable_db) as first, worker_process(portable_db) as second:
        async with (
            subscribed(first, key, ["AAPL", SENTINEL]) as (one, _),
            subscribed(second, key, ["AAPL", SENTINEL]) as (two, _),
        ):
            await ingest(portable_db, "AAPL", T0, 30, 4)
            await write_sentinel(portable_db)
            for client in (one, two):
                assert summary(await until_sentinel(client)) == expected_minutes("AAPL", T0, 30)
