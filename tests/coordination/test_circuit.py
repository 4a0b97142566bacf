"""The Polygon circuit opened by one worker is open for every worker sharing Redis."""

from __future__ import annotations

from datetime import date

import pytest

from coordination.circuit import SharedCircuit
from coordination.link import RedisLink
from domain.errors import UpstreamUnavailable
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
