"""The Polygon circuit opened by one worker is open for every worker sharing Redis."""

from __future__ import annotations

from datetime import date

import pytest

from coordination.circuit import SharedCircuit
from coordination.link import RedisLink
from domain.circuit import Admission
from domain.errors import UpstreamConfigError, UpstreamUnavailable
from tests.fakes.polygon_server import FakePolygon
from tests.support.redis_server import RedisServer
from upstream.circuit_breaker import BreakerState
from upstream.polygon import PolygonClient

AGGS = "/v2/aggs/ticker/"
DAY = date(2024, 1, 2)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def worker(fake: FakePolygon, link: RedisLink, clock: Clock | None = None) -> PolygonClient:
    return PolygonClient(
        fake.api_key,
        base_url=fake.url,
        requests_per_minute=None,
        max_retries=0,
        breaker_failure_threshold=2,
        breaker_reset_timeout=60.0,
        shared_circuit=SharedCircuit(link),
        clock=clock or Clock(),
    )


async def test_an_open_circuit_in_one_worker_stops_the_other_without_calling_upstream(
    fake_polygon: FakePolygon, redis_server: RedisServer
) -> None:
    links = [RedisLink(redis_server.url, key_prefix="t:") for _ in "ab"]
    a, b = (worker(fake_polygon, link) for link in links)
    try:
        fake_polygon.behave(server_error=100)
        for _ in range(2):
            with pytest.raises(UpstreamUnavailable):
                await a.aggregates("AAPL", 1, "day", DAY, DAY)
        assert a.breaker.state is BreakerState.OPEN
        calls = fake_polygon.count(AGGS)

        with pytest.raises(UpstreamUnavailable, match="another worker"):
            await b.aggregates("AAPL", 1, "day", DAY, DAY)
        assert fake_polygon.count(AGGS) == calls  # b never asked upstream
        assert 0 < await SharedCircuit(links[1]).open_for() <= 60
    finally:
        for client in (a, b):
            await client.aclose()
        for link in links:
            await link.aclose()


async def test_a_successful_trial_closes_it_for_everyone(
    fake_polygon: FakePolygon, redis_server: RedisServer
) -> None:
    links = [RedisLink(redis_server.url, key_prefix="t:") for _ in "ab"]
    clock = Clock()
    a, b = worker(fake_polygon, links[0], clock), worker(fake_polygon, links[1])
    try:
        fake_polygon.behave(server_error=2)
        for _ in range(2):
            with pytest.raises(UpstreamUnavailable):
                await a.aggregates("AAPL", 1, "day", DAY, DAY)
        assert await SharedCircuit(links[1]).open_for() > 0
        await expire_open_period(redis_server)
        clock.now += 61  # a's reset timeout is over: its next call is the trial, and it works
        assert await a.aggregates("AAPL", 1, "day", DAY, DAY) == []
        assert await SharedCircuit(links[1]).open_for() == 0
        assert await b.aggregates("AAPL", 1, "day", DAY, DAY) == []
    finally:
        for client in (a, b):
            await client.aclose()
        for link in links:
            await link.aclose()


async def test_without_redis_each_worker_decides_alone(redis_server: RedisServer) -> None:
    link = RedisLink(redis_server.url, key_prefix="t:")
    circuit = SharedCircuit(link)
    try:
        await circuit.opened(30)
        assert await circuit.open_for() > 0
        redis_server.stop()
        assert await circuit.open_for() == 0  # unknown: not open
        assert not link.up
        await circuit.opened(30)  # nothing to tell, nothing raised
    finally:
        await link.aclose()


async def expire_open_period(redis_server: RedisServer) -> None:
    """As if the open period's TTL ran out (the local breakers' fake clocks move separately)."""
    link = RedisLink(redis_server.url, key_prefix="t:")
    try:
        assert await link.client.delete(link.key("circuit", "polygon")) == 1
    finally:
        await link.aclose()


async def test_after_the_open_period_one_worker_tries_for_the_fleet(
    fake_polygon: FakePolygon, redis_server: RedisServer
) -> None:
    links = [RedisLink(redis_server.url, key_prefix="t:") for _ in "abc"]
    clock = Clock()
    a = worker(fake_polygon, links[0], clock)
    b, c = (worker(fake_polygon, link) for link in links[1:])
    try:
        fake_polygon.behave(server_error=100)
        for _ in range(2):
            with pytest.raises(UpstreamUnavailable):
                await a.aggregates("AAPL", 1, "day", DAY, DAY)
        await expire_open_period(redis_server)
        clock.now += 61  # a's own breaker is half-open too
        calls = fake_polygon.count(AGGS)

        with pytest.raises(UpstreamUnavailable, match="500"):
            await b.aggregates("AAPL", 1, "day", DAY, DAY)  # the trial, and it fails
        for other in (a, c, b):
            with pytest.raises(UpstreamUnavailable, match="another worker"):
                await other.aggregates("AAPL", 1, "day", DAY, DAY)
        assert fake_polygon.count(AGGS) == calls + 1  # one trial, not one per worker
        assert 0 < await SharedCircuit(links[2]).open_for() <= 60  # open again for everyone
    finally:
        for client in (a, b, c):
            await client.aclose()
        for link in links:
            await link.aclose()


async def test_another_workers_successful_trial_closes_it_for_the_one_that_opened_it(
    fake_polygon: FakePolygon, redis_server: RedisServer
) -> None:
    links = [RedisLink(redis_server.url, key_prefix="t:") for _ in "ab"]
    clock = Clock()
    a, b = worker(fake_polygon, links[0], clock), worker(fake_polygon, links[1])
    try:
        fake_polygon.behave(server_error=2)
        for _ in range(2):
            with pytest.raises(UpstreamUnavailable):
                await a.aggregates("AAPL", 1, "day", DAY, DAY)
        await expire_open_period(redis_server)
        assert await b.aggregates("AAPL", 1, "day", DAY, DAY) == []  # b's trial works
        clock.now += 61
        assert await a.aggregates("AAPL", 1, "day", DAY, DAY) == []
        assert a.breaker.state is BreakerState.CLOSED
    finally:
        for client in (a, b):
            await client.aclose()
        for link in links:
            await link.aclose()


async def test_a_trial_that_proves_nothing_lets_the_next_call_try(
    fake_polygon: FakePolygon, redis_server: RedisServer
) -> None:
    link = RedisLink(redis_server.url, key_prefix="t:")
    circuit = SharedCircuit(link)
    try:
        await circuit.opened(30)
        await expire_open_period(redis_server)
        assert (await circuit.admit(30)).trial
        refused = await circuit.admit(30)
        assert not refused.trial and 29 < refused.wait <= 30  # the lease, not an hour
        await circuit.released()
        assert (await circuit.admit(30)).trial
        await circuit.closed()
        assert await circuit.admit(30) == Admission()
    finally:
        await link.aclose()


async def test_a_trial_refused_as_a_client_error_leaves_the_next_call_to_another_worker(
    fake_polygon: FakePolygon, redis_server: RedisServer
) -> None:
    links = [RedisLink(redis_server.url, key_prefix="t:") for _ in "ab"]
    a, b = (worker(fake_polygon, link) for link in links)
    try:
        await SharedCircuit(links[0]).opened(30)
        await expire_open_period(redis_server)
        fake_polygon.behave(unauthorized=True)
        with pytest.raises(UpstreamConfigError):
            await a.aggregates("AAPL", 1, "day", DAY, DAY)  # the trial: a 401 proves nothing
        fake_polygon.behave(unauthorized=False)
        assert await b.aggregates("AAPL", 1, "day", DAY, DAY) == []  # b tries at once
    finally:
        for client in (a, b):
            await client.aclose()
        for link in links:
            await link.aclose()
