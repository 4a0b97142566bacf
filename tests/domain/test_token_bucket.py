"""TokenBucket: bursts, refill, spacing, FIFO reservations, cancellation — on a fake clock."""

from __future__ import annotations

import asyncio

import pytest

from domain.token_bucket import TokenBucket
from tests.support.time import FakeTime


def bucket(time: FakeTime, rate: float, capacity: float = 1.0) -> TokenBucket:
    return TokenBucket(rate, capacity, clock=time.clock, sleep=time.sleep)


def test_try_acquire_allows_a_burst_up_to_capacity_then_says_how_long_to_wait() -> None:
    time = FakeTime()
    limiter = bucket(time, rate=2.0, capacity=3)

    assert [limiter.try_acquire()[0] for _ in range(3)] == [True, True, True]
    allowed, retry_after = limiter.try_acquire()

    assert not allowed
    assert retry_after == pytest.approx(0.5)


def test_try_acquire_refills_with_time_but_never_beyond_capacity() -> None:
    time = FakeTime()
    limiter = bucket(time, rate=1.0, capacity=2)
    limiter.try_acquire()
    limiter.try_acquire()

    time.advance(0.4)
    allowed, retry_after = limiter.try_acquire()
    assert not allowed and retry_after == pytest.approx(0.6)
    time.advance(0.6)
    assert limiter.try_acquire() == (True, 0.0)

    time.advance(3600)
    assert limiter.tokens == 2
    assert [limiter.try_acquire()[0] for _ in range(3)] == [True, True, False]


async def test_acquire_spaces_requests_at_the_configured_rate() -> None:
    time = FakeTime()
    limiter = bucket(time, rate=5 / 60)  # Polygon's free plan: 5 requests a minute
    granted_at = []

    for _ in range(4):
        await limiter.acquire()
        granted_at.append(time.now - 1_000.0)

    assert granted_at == pytest.approx([0.0, 12.0, 24.0, 36.0])


async def test_concurrent_waiters_are_served_in_call_order_without_overdrawing() -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:  # time stands still while they all queue up
        waits.append(seconds)
        await asyncio.sleep(0)

    limiter = TokenBucket(1.0, 1, clock=lambda: 0.0, sleep=sleep)
    order: list[int] = []

    async def take(i: int) -> None:
        await limiter.acquire()
        order.append(i)

    await asyncio.gather(*(take(i) for i in range(4)))

    assert order == [0, 1, 2, 3]
    assert waits == pytest.approx([1.0, 2.0, 3.0])


async def test_a_cancelled_wait_gives_its_reservation_back() -> None:
    gate = asyncio.Event()
    now = [0.0]

    async def blocked_sleep(_: float) -> None:
        await gate.wait()

    limiter = TokenBucket(1.0, 1, clock=lambda: now[0], sleep=blocked_sleep)
    await limiter.acquire()
    waiter = asyncio.ensure_future(limiter.acquire())
    await asyncio.sleep(0)
    assert limiter.tokens == -1

    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter

    assert limiter.tokens == 0
    now[0] = 1.0
    assert limiter.try_acquire() == (True, 0.0)


@pytest.mark.parametrize(
    ("rate", "capacity", "message"),
    [(0, 1, "rate_per_second must be > 0"), (-1, 1, "rate_per_second"), (1, 0.5, "capacity")],
)
def test_rejects_nonsense_configuration(rate: float, capacity: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TokenBucket(rate, capacity)


def test_the_default_capacity_is_one_request_no_burst() -> None:
    time = FakeTime()
    limiter = TokenBucket(1.0, clock=time.clock, sleep=time.sleep)
    assert limiter.try_acquire()[0]
    allowed, retry_after = limiter.try_acquire()
    assert not allowed and retry_after == pytest.approx(1.0)
