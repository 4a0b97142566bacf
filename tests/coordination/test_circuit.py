"""The Polygon circuit opened by one worker is open for every worker sharing Redis, and after
the open period one worker's trial call speaks for all of them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
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


@dataclass
class Fleet:
    """Workers of one deployment: each its own Redis link, breaker and clock."""

    fake: FakePolygon
    redis_server: RedisServer
    links: list[RedisLink] = field(default_factory=list)
    clients: list[PolygonClient] = field(default_factory=list)

    def link(self) -> RedisLink:
        self.links.append(RedisLink(self.redis_server.url, key_prefix="t:"))
        return self.links[-1]

    def worker(self, clock: Clock | None = None) -> PolygonClient:
        client = PolygonClient(
            self.fake.api_key,
            base_url=self.fake.url,
            requests_per_minute=None,
            max_retries=0,
            breaker_failure_threshold=2,
            breaker_reset_timeout=60.0,
            shared_circuit=SharedCircuit(self.link()),
            clock=clock or Clock(),
        )
        self.clients.append(client)
        return client

    def circuit(self) -> SharedCircuit:
        return SharedCircuit(self.link())

    async def open_by(self, client: PolygonClient) -> None:
        """Two failed calls (the threshold) open `client`'s breaker, and so the fleet's."""
        for _ in range(2):
            with pytest.raises(UpstreamUnavailable):
                await fetch(client)
        assert client.breaker.state is BreakerState.OPEN

    async def expire_open_period(self) -> None:
        """As if the open period's TTL ran out (the breakers' fake clocks move separately)."""
        link = self.link()
        assert await link.client.delete(link.key("circuit", "polygon")) == 1


async def open_for(circuit: SharedCircuit) -> float:
    """Seconds a worker asking now would be refused for (0: it may call)."""
    return (await circuit.admit(60)).wait


@pytest.fixture
async def fleet(fake_polygon: FakePolygon, redis_server: RedisServer) -> AsyncIterator[Fleet]:
    made = Fleet(fake_polygon, redis_server)
    yield made
    for client in made.clients:
        await client.aclose()
    for link in made.links:
        await link.aclose()


async def fetch(client: PolygonClient) -> list[object]:
    return list(await client.aggregates("AAPL", 1, "day", DAY, DAY))


async def test_an_open_circuit_in_one_worker_stops_the_other_without_calling_upstream(
    fleet: Fleet,
) -> None:
    a, b = fleet.worker(), fleet.worker()
    fleet.fake.behave(server_error=100)
    await fleet.open_by(a)
    calls = fleet.fake.count(AGGS)

    with pytest.raises(UpstreamUnavailable, match="another worker"):
        await fetch(b)
    assert fleet.fake.count(AGGS) == calls  # b never asked upstream
    assert 0 < await open_for(fleet.circuit()) <= 60


async def test_a_successful_trial_closes_it_for_everyone(fleet: Fleet) -> None:
    clock = Clock()
    a, b = fleet.worker(clock), fleet.worker()
    fleet.fake.behave(server_error=2)
    await fleet.open_by(a)
    assert await open_for(fleet.circuit()) > 0
    await fleet.expire_open_period()
    clock.now += 61  # a's reset timeout is over: its next call is the trial, and it works
    assert await fetch(a) == []
    assert await open_for(fleet.circuit()) == 0
    assert await fetch(b) == []


async def test_after_the_open_period_one_worker_tries_for_the_fleet(fleet: Fleet) -> None:
    clock = Clock()
    a, b, c = fleet.worker(clock), fleet.worker(), fleet.worker()
    fleet.fake.behave(server_error=100)
    await fleet.open_by(a)
    await fleet.expire_open_period()
    clock.now += 61  # a's own breaker is half-open too
    calls = fleet.fake.count(AGGS)

    with pytest.raises(UpstreamUnavailable, match="500"):
        await fetch(b)  # the trial, and it fails
    for other in (a, c, b):
        with pytest.raises(UpstreamUnavailable, match="another worker"):
            await fetch(other)
    assert fleet.fake.count(AGGS) == calls + 1  # one trial, not one per worker
    assert 0 < await open_for(fleet.circuit()) <= 60  # open again for everyone


async def test_another_workers_successful_trial_closes_it_for_the_one_that_opened_it(
    fleet: Fleet,
) -> None:
    clock = Clock()
    a, b = fleet.worker(clock), fleet.worker()
    fleet.fake.behave(server_error=2)
    await fleet.open_by(a)
    await fleet.expire_open_period()
    assert await fetch(b) == []  # b's trial works
    clock.now += 61
    assert await fetch(a) == []
    assert a.breaker.state is BreakerState.CLOSED


async def test_a_trial_refused_as_a_client_error_leaves_the_next_call_to_another_worker(
    fleet: Fleet,
) -> None:
    a, b = fleet.worker(), fleet.worker()
    await fleet.circuit().opened(30)
    await fleet.expire_open_period()
    fleet.fake.behave(unauthorized=True)
    with pytest.raises(UpstreamConfigError):
        await fetch(a)  # the trial: a 401 proves nothing
    fleet.fake.behave(unauthorized=False)
    assert await fetch(b) == []  # b tries at once


async def test_a_trial_is_leased_released_and_cleared_by_closing(fleet: Fleet) -> None:
    circuit = fleet.circuit()
    await circuit.opened(30)
    await fleet.expire_open_period()
    assert (await circuit.admit(30)).trial
    refused = await circuit.admit(30)
    assert not refused.trial and 29 < refused.wait <= 30  # the lease, not an hour
    await circuit.released()
    assert (await circuit.admit(30)).trial
    await circuit.closed()
    assert await circuit.admit(30) == Admission()


async def test_without_redis_each_worker_decides_alone(fleet: Fleet) -> None:
    link = fleet.link()
    circuit = SharedCircuit(link)
    await circuit.opened(30)
    assert await open_for(circuit) > 0
    fleet.redis_server.stop()
    assert await open_for(circuit) == 0  # unknown: not open
    assert not link.up
    await circuit.opened(30)  # nothing to tell, nothing raised
