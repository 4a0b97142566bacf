"""The gateway's limiters over a shared Redis: two workers count one key, one address, together."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from coordination.link import RedisLink
from coordination.windows import SharedWindows
from domain.access import Principal, Scope
from domain.errors import RateLimited
from gateway.authentication import Authenticator
from gateway.rate_limit import KeyRateLimiter
from tests.support.databases import Database
from tests.support.redis_server import RedisServer

BAD_KEY = "mg_" + "x" * 40


@pytest.fixture
async def windows(redis_server: RedisServer) -> AsyncIterator[list[SharedWindows]]:
    links = [RedisLink(redis_server.url, key_prefix="t:") for _ in "ab"]
    yield [SharedWindows(link) for link in links]
    for link in links:
        await link.aclose()


async def test_bad_keys_from_one_address_are_counted_across_workers(
    portable_db: Database, windows: list[SharedWindows]
) -> None:
    workers = [
        Authenticator(portable_db.pool, failed_attempts_per_minute=3, windows=w) for w in windows
    ]
    outcomes: list[object] = []
    for i in range(5):
        try:
            outcomes.append(await workers[i % 2].verify_key(BAD_KEY, client="10.0.0.1"))
        except RateLimited:
            outcomes.append("429")
    assert outcomes == [None, None, None, "429", "429"]
    # another address is not held back by this one
    assert await workers[0].verify_key(BAD_KEY, client="10.0.0.2") is None


async def test_keyless_addresses_are_counted_across_workers(windows: list[SharedWindows]) -> None:
    workers = [KeyRateLimiter(600, anonymous_per_minute=2, windows=w) for w in windows]
    counted = [await workers[i % 2].check_anonymous("10.0.0.1") for i in range(4)]
    assert [(c.allowed, c.remaining) for c in counted if c] == [(True, 1), (True, 0)] + [
        (False, 0)
    ] * 2
    assert all(c is not None and 0 < c.reset <= 60 for c in counted[2:])


async def test_a_key_with_its_own_limit_is_counted_across_workers(
    windows: list[SharedWindows],
) -> None:
    key = Principal(7, "k", frozenset({Scope.READ}), rate_limit_per_minute=2)
    workers = [KeyRateLimiter(600, windows=w) for w in windows]
    counted = [await workers[i % 2].check(key) for i in range(3)]
    assert [(c.allowed, c.quota, c.window, c.remaining) for c in counted if c] == [
        (True, 2, 60, 1),
        (True, 2, 60, 0),
        (False, 2, 60, 0),
    ]
