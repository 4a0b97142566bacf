"""Shared moving windows on a real redis-server: counted together, fallen back, come back."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from coordination.link import RedisLink
from coordination.windows import SharedWindows, window_for
from tests.support.redis_server import RedisServer
from tests.support.time import FakeTime


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


async def test_requests_leave_the_window_one_by_one_as_it_moves(links: list[RedisLink]) -> None:
    time = FakeTime()
    windows = SharedWindows(links[0], clock=time.clock)
    counted = []
    for wait in (0, 10, 10, 25, 21, 5, 1, 48):  # at 0, 10, 20, 45, 66, 71, 72 and 120 s
        time.advance(wait)
        counted.append(await windows.hit("key", "moving", 4))

    assert [(c.allowed, c.remaining, round(c.reset, 6)) for c in counted if c] == [
        (True, 3, 60),
        (True, 2, 50),
        (True, 1, 40),
        (True, 0, 15),  # four in the window: the one at 0 leaves it at 60
        (True, 0, 4),  # 0 has left: 10, 20, 45 and this one; 10 leaves at 70
        (True, 0, 9),  # 10 has left too; 20 leaves at 80
        (False, 0, 8),  # 20, 45, 66 and 71: full
        (True, 1, 6),  # 20 and 45 have left: 66, 71 and this one
    ]


RUN_BY_THE_SCRIPT = {f"cmdstat_{c}" for c in ("lindex", "llen", "lpush", "ltrim", "expire")}


async def test_each_count_is_one_command(links: list[RedisLink], redis_server: RedisServer) -> None:
    """Counting and reading what is left cost one round trip, not two."""
    windows = SharedWindows(links[0])
    await windows.hit("key", "commands", 50)  # the first call may load the script
    info = links[1].client.info

    def counts(stats: dict[str, dict[str, int]]) -> dict[str, int]:
        return {name: s["calls"] for name, s in stats.items() if name != "cmdstat_info"}

    before = counts(await info("commandstats"))
    for _ in range(10):
        await windows.hit("key", "commands", 50)
    after = counts(await info("commandstats"))

    grown = {name: after[name] - before.get(name, 0) for name in after}
    sent = {name: n for name, n in grown.items() if n and name not in RUN_BY_THE_SCRIPT}
    assert sent == {"cmdstat_evalsha": 10}


async def test_a_release_counting_through_limits_shares_the_window(
    links: list[RedisLink],
) -> None:
    """While a deployment rolls, workers that count through `limits` and workers of this
    release count in one window."""
    ours = SharedWindows(links[0])
    link = links[1]
    shared: dict[str, Any] = {"connection_pool": link.client.connection_pool}
    storage = RedisStorage(
        "async+redis://", implementation="redispy", key_prefix=link.key("limits"), **shared
    )
    theirs = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerMinute(4, namespace="key")

    first = await ours.hit("key", "rolling", 4)
    allowed = [await theirs.hit(item, "rolling") for _ in range(2)]
    last = await ours.hit("key", "rolling", 4)
    refused_there = await theirs.hit(item, "rolling")
    refused_here = await ours.hit("key", "rolling", 4)

    assert first is not None and (first.allowed, first.remaining) == (True, 3)
    assert allowed == [True, True]
    assert last is not None and (last.allowed, last.remaining) == (True, 0)
    assert refused_there is False
    assert refused_here is not None and not refused_here.allowed
