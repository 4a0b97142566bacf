"""CircuitBreaker: closed → open after N failures → half-open trial → closed or open again."""

from __future__ import annotations

import asyncio

import pytest

from domain.errors import UpstreamUnavailable
from tests.support.time import FakeTime
from upstream.circuit_breaker import BreakerState, CircuitBreaker


class Upstream:
    """Counts calls and fails while told to."""

    def __init__(self) -> None:
        self.calls = 0
        self.failing = True

    async def __call__(self) -> str:
        self.calls += 1
        if self.failing:
            raise UpstreamUnavailable("down")
        return "ok"


async def fail_times(breaker: CircuitBreaker, upstream: Upstream, n: int) -> None:
    for _ in range(n):
        with pytest.raises(UpstreamUnavailable, match="down"):
            await breaker.call(upstream)


async def test_opens_after_consecutive_failures_and_then_fails_fast_without_calling() -> None:
    time = FakeTime()
    breaker = CircuitBreaker(3, 30.0, clock=time.clock)
    upstream = Upstream()

    await fail_times(breaker, upstream, 3)
    assert breaker.state is BreakerState.OPEN

    for _ in range(5):
        with pytest.raises(UpstreamUnavailable, match="circuit open"):
            await breaker.call(upstream)
    assert upstream.calls == 3
    assert breaker.retry_after() == pytest.approx(30.0)


async def test_a_success_resets_the_consecutive_count() -> None:
    breaker = CircuitBreaker(2, 30.0, clock=FakeTime().clock)
    upstream = Upstream()

    await fail_times(breaker, upstream, 1)
    upstream.failing = False
    assert await breaker.call(upstream) == "ok"
    upstream.failing = True
    await fail_times(breaker, upstream, 1)

    assert breaker.state is BreakerState.CLOSED
    assert breaker.consecutive_failures == 1


async def test_half_opens_after_the_timeout_and_a_successful_trial_closes_it() -> None:
    time = FakeTime()
    breaker = CircuitBreaker(1, 10.0, clock=time.clock)
    upstream = Upstream()
    await fail_times(breaker, upstream, 1)

    time.advance(9.9)
    assert breaker.state is BreakerState.OPEN
    time.advance(0.1)
    assert breaker.state is BreakerState.HALF_OPEN  # type: ignore[comparison-overlap]

    upstream.failing = False
    assert await breaker.call(upstream) == "ok"
    assert breaker.state is BreakerState.CLOSED
    assert upstream.calls == 2


async def test_half_open_lets_exactly_one_trial_through() -> None:
    time = FakeTime()
    breaker = CircuitBreaker(1, 10.0, clock=time.clock)
    await fail_times(breaker, Upstream(), 1)
    time.advance(10)
    gate = asyncio.Event()
    trials = 0

    async def slow_trial() -> str:
        nonlocal trials
        trials += 1
        await gate.wait()
        return "ok"

    trial = asyncio.ensure_future(breaker.call(slow_trial))
    await asyncio.sleep(0)
    with pytest.raises(UpstreamUnavailable, match="trial call in flight"):
        await breaker.call(slow_trial)
    gate.set()

    assert await trial == "ok"
    assert trials == 1
    assert breaker.state is BreakerState.CLOSED


async def test_a_failed_trial_opens_the_breaker_for_another_timeout() -> None:
    time = FakeTime()
    breaker = CircuitBreaker(3, 10.0, clock=time.clock)
    upstream = Upstream()
    await fail_times(breaker, upstream, 3)
    time.advance(10)

    await fail_times(breaker, upstream, 1)  # one failed trial is enough, not three

    assert breaker.state is BreakerState.OPEN
    assert breaker.retry_after() == pytest.approx(10.0)
    assert upstream.calls == 4


async def test_exceptions_that_are_not_failures_neither_count_nor_hold_the_trial() -> None:
    time = FakeTime()
    breaker = CircuitBreaker(1, 10.0, clock=time.clock)

    async def rejected() -> None:
        raise ValueError("the caller's fault")

    for _ in range(3):
        with pytest.raises(ValueError):
            await breaker.call(rejected, is_failure=lambda e: not isinstance(e, ValueError))
    assert breaker.state is BreakerState.CLOSED

    await fail_times(breaker, Upstream(), 1)
    time.advance(10)
    with pytest.raises(ValueError):
        await breaker.call(rejected, is_failure=lambda e: not isinstance(e, ValueError))
    assert breaker.state is BreakerState.HALF_OPEN  # type: ignore[comparison-overlap]
    upstream = Upstream()
    upstream.failing = False
    assert await breaker.call(upstream) == "ok"  # the trial slot was released


async def test_cancellation_releases_the_trial_without_counting() -> None:
    time = FakeTime()
    breaker = CircuitBreaker(1, 10.0, clock=time.clock)
    await fail_times(breaker, Upstream(), 1)
    time.advance(10)

    async def hang() -> None:
        await asyncio.Event().wait()

    task = asyncio.ensure_future(breaker.call(hang))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert breaker.state is BreakerState.HALF_OPEN
    breaker.before_call()  # a new trial may go


@pytest.mark.parametrize(("threshold", "timeout"), [(0, 1.0), (1, -1.0)])
def test_rejects_nonsense_configuration(threshold: int, timeout: float) -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(threshold, timeout)
