"""What answers on REDIS_URL is not Redis (or not sane): every shared structure falls back to
its process-local answer instead of failing the request, and the probe says Redis is down."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from coordination.circuit import SharedCircuit
from coordination.link import RedisLink
from coordination.responses import SharedResponses
from coordination.windows import SharedWindows
from tests.fakes.garbled_redis import garbled_redis


@pytest.fixture
def garbled_url() -> Iterator[str]:
    with garbled_redis() as url:
        yield url


@pytest.fixture
async def link(garbled_url: str) -> AsyncIterator[RedisLink]:
    made = RedisLink(garbled_url, key_prefix="test:")
    yield made
    await made.aclose()


async def test_the_probe_reports_down_instead_of_raising(link: RedisLink) -> None:
    assert await link.ping() is False
    assert link.up is False
    assert await link.ping() is False  # and again, with the pool started afresh


async def test_a_rate_limit_window_is_decided_locally(link: RedisLink) -> None:
    assert await SharedWindows(link).hit("key", "7", 5) is None
    assert link.up is False


async def test_a_cached_answer_is_looked_up_locally(link: RedisLink) -> None:
    assert await SharedResponses(link, 60, 10, 1000).lookup(b"digest", frozenset()) is None
    assert link.up is False


async def test_the_upstream_circuit_admits_without_waiting(link: RedisLink) -> None:
    admission = await SharedCircuit(link).admit(5)
    assert (admission.wait, admission.trial) == (0, False)
    assert link.up is False
