"""Shared moving windows on a real redis-server: counted together, fallen back, come back."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from coordination.link import RedisLink
from coordination.windows import SharedWindows, window_for
from tests.support.redis_server import RedisServer


@pytest.fixture
async def links(redis_server: RedisServer) -> AsyncIterator[list[RedisLink]]:
    """Two links to one Redis, as two worker processes have."""
    made = [RedisLink(redis_server.url, key_prefix="test:", probe_seconds=0.05) for _ in "ab"]
    yield made
    for link in made:
        await link.aclose()


async def test_two_processes_share_one_window(links: list[RedisLink]) -> None:
    a, b = (SharedWindows(link) for link in links)
    decisions = [await (a, b)[i % 2].hit("key", "7", 5) for i in range(8)]

    assert [d is not None and d.allowed for d in decisions] == [True] * 5 + [False] * 3
    refused = decisions[-1]
    assert refused is not None and 0 < refused.reset <= 60


async def test_what_is_left_is_counted_down_across_processes(links: list[RedisLink]) -> None:
    a, b = (SharedWindows(link) for link in links)
    counted = [await (a, b)[i % 2].hit("address", "10.0.0.9", 3) for i in range(4)]

    assert [(c.allowed, c.quota, c.window, c.remaining) for c in counted if c] == [
        (True, 3, 60, 2),
        (True, 3, 60, 1),
        (True, 3, 60, 0),
        (False, 3, 60, 0),
    ]
    # the first request leaves the window a minute after it came: then one more may go
    assert all(c is not None and 59 < c.reset <= 60 for c in counted)


async def test_a_fractional_rate_reports_its_longer_window(links: list[RedisLink]) -> None:
    counted = await SharedWindows(links[0]).hit("key", "1.5/min", 1.5)
    assert counted is not None and (counted.quota, counted.window, counted.remaining) == (3, 120, 2)


async def test_limit_of_one_allows_exactly_one(links: list[RedisLink]) -> None:
    windows = SharedWindows(links[0])
    first, second = [await windows.hit("key", "1", 1) for _ in range(2)]
    assert first is not None and first.allowed
    assert second is not None and not second.allowed


async def test_names_kinds_and_prefixes_are_counted_apart(
    links: list[RedisLink], redis_server: RedisServer
) -> None:
    windows = SharedWindows(links[0])
    other = RedisLink(redis_server.url, key_prefix="other-deployment:")
    try:
        firsts = [("7", "key", links[0]), ("8", "key", links[0])]
        firsts += [("7", "address", links[0]), ("7", "key", other)]
        for name, kind, link in firsts:
            decision = await SharedWindows(link).hit(kind, name, 1)
            assert decision is not None and decision.allowed, (name, kind)
        again = await windows.hit("key", "7", 1)
        assert again is not None and not again.allowed
    finally:
        await other.aclose()


async def test_unreachable_redis_answers_none_logs_once_and_comes_back(
    links: list[RedisLink], redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    link = links[0]
    windows = SharedWindows(link)
    redis_server.stop()
    with caplog.at_level(logging.WARNING, logger="coordination.link"):
        assert [await windows.hit("key", "9", 100) for _ in range(3)] == [None] * 3
    assert not link.up
    assert [r.message for r in caplog.records].count(
        "Redis unreachable: limits, budgets and cache fall back to this process"
    ) == 1

    redis_server.start()
    assert await link.ping()
    decision = await windows.hit("key", "9", 100)
    assert link.up and decision is not None and decision.allowed


async def test_a_rate_below_one_a_minute_is_not_rounded_up(links: list[RedisLink]) -> None:
    windows = SharedWindows(links[0])
    first, second = [await windows.hit("key", "half", 0.5) for _ in range(2)]
    assert first is not None and first.allowed
    # one request per two minutes, as the local token bucket allows, not one a minute
    assert second is not None and not second.allowed and 60 < second.reset <= 120


async def test_a_fractional_rate_is_counted_over_a_longer_window(links: list[RedisLink]) -> None:
    windows = SharedWindows(links[0])
    decisions = [await windows.hit("key", "1.5", 1.5) for _ in range(4)]
    # 1.5 a minute: 3 in two minutes, not 1 a minute
    assert [d is not None and d.allowed for d in decisions] == [True, True, True, False]


@pytest.mark.parametrize(
    ("per_minute", "window"),
    [(600, (600, 60)), (1, (1, 60)), (2.3, (23, 600)), (10.5, (21, 120)), (0.01, (1, 6000))],
)
def test_windows_never_allow_more_than_the_rate(per_minute: float, window: tuple[int, int]) -> None:
    assert window_for(per_minute) == window
    amount, seconds = window
    assert amount / seconds <= per_minute / 60 + 1e-12
