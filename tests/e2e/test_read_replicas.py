"""Read replicas against a real streaming replica (pg_basebackup -R) of a primary the test starts.

Which server answered is told by the data itself: with the replica's replay paused, bars written
on the primary afterwards exist only there, so an answer without them came from the replica and
an answer with them from the primary.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from domain.access import Scope
from gateway.app import create_app
from storage import api_keys
from storage.bars_write import BarIn, upsert_bars
from storage.features import RollupBackend
from storage.migrations import migrate
from tests.fakes.polygon_server import FakePolygon, make_bars
from tests.support.live_server import gateway_settings, serve_in_thread, upstream_settings
from tests.support.replication import Replication, replicated

DAY0 = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 5
BARS = """
query ($ticker: String!, $from: DateTime!, $to: DateTime!) {
  bars(ticker: $ticker, timeframe: D1, from: $from, to: $to, limit: 100) { time close }
}
"""
WAIT_SECONDS = 60.0


@pytest.fixture(scope="module")
def pair() -> Iterator[Replication]:
    with replicated() as started:
        if isinstance(started, str):
            pytest.skip(started)
        yield started


class Cluster:
    """The primary's pool, a connection to the replica, and API keys made on the primary."""

    def __init__(self, pair: Replication, primary: asyncpg.Pool) -> None:
        self.pair = pair
        self.primary = primary
        self.reader = ""
        self.fetcher = ""

    def replica_url(self) -> str:
        return self.pair.replica.url("marketgraph")

    async def on_replica(self, sql: str, *args: Any, database: str = "marketgraph") -> Any:
        conn = await asyncpg.connect(self.pair.replica.url(database))
        try:
            return await conn.fetchval(sql, *args)
        finally:
            await conn.close()

    async def caught_up(self) -> None:
        """Wait until the replica has replayed everything the primary has written so far."""
        target = await self.primary.fetchval("SELECT pg_current_wal_lsn()")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        # asked in `postgres`: the replica may not have replayed CREATE DATABASE yet
        replayed = "SELECT pg_last_wal_replay_lsn()"
        while await self.on_replica(replayed, database="postgres") < target:
            if loop.time() > deadline:
                raise AssertionError("the replica did not catch up")
            await asyncio.sleep(0.05)

    @contextlib.asynccontextmanager
    async def replay_paused(self) -> AsyncIterator[None]:
        await self.caught_up()
        await self.on_replica("SELECT pg_wal_replay_pause()")
        try:
            yield
        finally:
            await self.on_replica("SELECT pg_wal_replay_resume()")

    async def store(self, symbol: str, days: int = DAYS) -> None:
        bars = [
            BarIn(symbol, DAY0 + timedelta(days=i), 10.0, 11.0, 9.0, 10.0 + i, 100.0)
            for i in range(days)
        ]
        await upsert_bars(self.primary, "1d", bars, RollupBackend.PORTABLE)


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def cluster(pair: Replication) -> AsyncIterator[Cluster]:
    admin = await asyncpg.connect(pair.primary.url())
    try:
        await admin.execute("CREATE DATABASE marketgraph")
    finally:
        await admin.close()
    await migrate(pair.primary.url("marketgraph"), use_timescaledb=False)
    pool = await asyncpg.create_pool(pair.primary.url("marketgraph"), min_size=1, max_size=4)
    try:
        made = Cluster(pair, pool)
        _, made.reader = await api_keys.create_key(pool, "reader", [Scope.READ])
        _, made.fetcher = await api_keys.create_key(pool, "fetcher", [Scope.FETCH])
        await made.caught_up()
        yield made
    finally:
        await pool.close()


@contextlib.contextmanager
def gateway(cluster: Cluster, **overrides: Any) -> Iterator[str]:
    values: dict[str, Any] = {
        "database_read_urls": cluster.replica_url(),
        "max_replica_lag_seconds": 3600,
        "replica_check_seconds": 0.2,
        "anonymous_reads": False,
        "cache_ttl_seconds": 0,  # every request reads the database
        **overrides,
    }
    settings = gateway_settings(cluster.pair.primary.url("marketgraph"), **values)
    with serve_in_thread(create_app(settings), lifespan="on") as url:
        yield url


async def bars(url: str, key: str, ticker: str) -> list[dict[str, Any]]:
    variables = {"ticker": ticker, "from": DAY0.isoformat(), "to": _end().isoformat()}
    async with httpx.AsyncClient(timeout=60, headers={"X-API-Key": key}) as http:
        response = await http.post(f"{url}/graphql", json={"query": BARS, "variables": variables})
    assert response.status_code == 200, response.text
    body = response.json()
    assert "errors" not in body, body
    found: list[dict[str, Any]] = body["data"]["bars"]
    return found


def _end() -> datetime:
    return DAY0 + timedelta(days=DAYS)


async def metric(url: str, name: str) -> float:
    async with httpx.AsyncClient(timeout=30) as http:
        text = (await http.get(f"{url}/metrics")).text
    match = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else float("nan")


async def until_metric(url: str, name: str, wanted: Any) -> float:
    """Poll `/metrics` until `wanted(value)` holds (the sampler runs in the background)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while not wanted(value := await metric(url, name)):
        if loop.time() > deadline:
            raise AssertionError(f"{name} stayed {value}")
        await asyncio.sleep(0.1)
    return value


UP = 'marketgraph_db_replica_up{replica="0"}'
LAG = 'marketgraph_db_replica_lag_seconds{replica="0"}'
FALLBACKS = "marketgraph_db_replica_fallbacks_total"


async def test_the_replica_is_in_recovery_and_the_primary_is_not(cluster: Cluster) -> None:
    # the premise of every test below: a real streaming replica, not a second database
    assert await cluster.on_replica("SELECT pg_is_in_recovery()") is True
    assert await cluster.primary.fetchval("SELECT pg_is_in_recovery()") is False
    assert await cluster.on_replica("SELECT count(*) FROM api_keys") == 2


async def test_bars_stored_before_a_pause_are_on_the_replica(cluster: Cluster) -> None:
    # the premise of "caught up": what the primary committed before is replayed on the replica
    # (with asynchronous commit on the primary, the commit could still be in its WAL buffers;
    # several rounds, as the first write after a quiet spell tends to be flushed at once)
    for round_ in range(5):
        symbol = f"X:LTC{round_}"
        await cluster.store(symbol)
        async with cluster.replay_paused():
            sql = "SELECT count(*) FROM bars WHERE symbol = $1"
            assert await cluster.on_replica(sql, symbol) == DAYS, symbol


async def test_reads_go_to_a_replica_within_the_lag_limit(cluster: Cluster) -> None:
    await cluster.store("X:ETHUSD", days=3)
    async with cluster.replay_paused():
        await cluster.store("X:ETHUSD")  # two more days, on the primary only
        with gateway(cluster, max_replica_lag_seconds=3600) as url:
            await until_metric(url, UP, lambda v: v == 1)
            # behind, but within the limit: the replica answers, without the newer bars
            assert len(await bars(url, cluster.reader, "X:ETHUSD")) == 3
    await cluster.caught_up()
    with gateway(cluster) as url:
        await until_metric(url, UP, lambda v: v == 1)
        assert len(await bars(url, cluster.reader, "X:ETHUSD")) == DAYS
        assert await metric(url, LAG) == 0  # replayed up to the primary's position


async def test_a_replica_lagging_over_the_limit_is_skipped(cluster: Cluster) -> None:
    async with cluster.replay_paused():
        await cluster.store("X:SOLUSD")  # on the primary only
        with gateway(cluster, max_replica_lag_seconds=1) as url:
            # the lag grows from the last transaction the replica replayed
            assert await until_metric(url, LAG, lambda v: v > 1) > 1
            assert await metric(url, UP) == 0
            assert len(await bars(url, cluster.reader, "X:SOLUSD")) == DAYS  # the primary's
            assert await metric(url, FALLBACKS) == 0  # skipped up front, never tried


async def test_a_read_after_fetch_on_miss_in_the_same_request_sees_the_write(
    cluster: Cluster, fake_polygon: FakePolygon
) -> None:
    fake_polygon.add_bars("X:BTCUSD", make_bars(DAY0, DAYS))
    async with cluster.replay_paused():
        with gateway(cluster, **upstream_settings(fake_polygon)) as url:
            await until_metric(url, UP, lambda v: v == 1)
            # the bars are fetched and stored on the primary by this very request; the paused
            # replica cannot have them, yet the answer holds them
            assert len(await bars(url, cluster.fetcher, "X:BTCUSD")) == DAYS
            # a later request that writes nothing reads the replica (which still lacks them)
            assert await bars(url, cluster.reader, "X:BTCUSD") == []
    assert fake_polygon.count("/v2/aggs/ticker/") == 1


async def test_a_stopped_replica_is_skipped_within_one_request(cluster: Cluster) -> None:
    await cluster.store("X:ADAUSD")
    await cluster.caught_up()
    # sampled once at start-up only: the request itself must notice the replica is gone
    with gateway(cluster, replica_check_seconds=3600) as url:
        await until_metric(url, UP, lambda v: v == 1)
        assert len(await bars(url, cluster.reader, "X:ADAUSD")) == DAYS
        assert await metric(url, FALLBACKS) == 0
        cluster.pair.stop_replica()
        try:
            assert len(await bars(url, cluster.reader, "X:ADAUSD")) == DAYS
            assert await metric(url, FALLBACKS) == 1
            assert await metric(url, UP) == 0
            # the next request does not try it again
            assert len(await bars(url, cluster.reader, "X:ADAUSD")) == DAYS
            assert await metric(url, FALLBACKS) == 1
        finally:
            cluster.pair.start_replica()


async def test_a_read_url_that_is_not_a_replica_is_never_used(cluster: Cluster) -> None:
    # a primary listed by mistake would take reads without lag ever being measurable
    primary = cluster.pair.primary.url("marketgraph")
    with gateway(cluster, database_read_urls=f"{primary},{cluster.replica_url()}") as url:
        await until_metric(url, 'marketgraph_db_replica_up{replica="1"}', lambda v: v == 1)
        assert await metric(url, UP) == 0


async def test_a_replica_down_at_start_is_used_once_it_is_back(cluster: Cluster) -> None:
    await cluster.store("X:DOTUSD", days=DAYS - 1)
    cluster.pair.stop_replica()
    try:
        with gateway(cluster) as url:  # starts although its replica does not answer
            assert await metric(url, UP) == 0
            assert len(await bars(url, cluster.reader, "X:DOTUSD")) == DAYS - 1  # the primary's
            cluster.pair.start_replica()
            await until_metric(url, UP, lambda v: v == 1)
            async with cluster.replay_paused():
                await cluster.store("X:DOTUSD")  # one more day, on the primary only
                # the replica answers again (without the newest day)
                assert len(await bars(url, cluster.reader, "X:DOTUSD")) == DAYS - 1
    finally:
        if cluster.pair.replica_stopped():
            cluster.pair.start_replica()
