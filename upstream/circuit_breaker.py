"""A circuit breaker for calls to the upstream provider.

When Polygon is down, every cache miss would otherwise wait out timeouts and retries; after
`failure_threshold` consecutive failures the breaker opens and calls fail at once with
`UpstreamUnavailable`. After `reset_timeout` seconds it goes half-open and lets one trial call
through: success closes it, failure opens it for another `reset_timeout`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from domain.clocks import Monotonic
from domain.errors import UpstreamUnavailable

T = TypeVar("T")


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


def _always(_: BaseException) -> bool:
    return True


class CircuitBreaker:
    """Consecutive-failure breaker. Not thread-safe; meant for one event loop."""

    __slots__ = (
        "_clock",
        "_failure_threshold",
        "_failures",
        "_opened_at",
        "_reset_timeout",
        "_trial_in_flight",
    )

    def __init__(
        self, failure_threshold: int, reset_timeout: float, *, clock: Monotonic = time.monotonic
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold!r}")
        if reset_timeout < 0:
            raise ValueError(f"reset_timeout must be >= 0, got {reset_timeout!r}")
        self._failure_threshold = failure_threshold
        self._reset_timeout = float(reset_timeout)
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self._reset_timeout:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def reset_timeout(self) -> float:
        """Seconds an open breaker waits before its trial call."""
        return self._reset_timeout

    @property
    def consecutive_failures(self) -> int:
        return self._failures

    def before_call(self) -> None:
        """Raise `UpstreamUnavailable` unless a call may go through now.

        In half-open state exactly one caller gets through (the trial); it must then report
        `record_success()`, `record_failure()` or `release()`.
        """
        state = self.state
        if state is BreakerState.CLOSED:
            return
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return
        if state is BreakerState.HALF_OPEN:
            raise UpstreamUnavailable("upstream circuit open (half-open, trial call in flight)")
        raise UpstreamUnavailable(
            f"upstream circuit open after {self._failures} consecutive failures; "
            f"retry in {self.retry_after():.1f}s"
        )

    def retry_after(self) -> float:
        """Seconds until the breaker will let a trial call through (0 when it would now)."""
        if self._opened_at is None:
            return 0.0
        return max(0.0, self._opened_at + self._reset_timeout - self._clock())

    def record_success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self) -> None:
        self._failures += 1
        if self._trial_in_flight or self._failures >= self._failure_threshold:
            self._opened_at = self._clock()
        self._trial_in_flight = False

    def release(self) -> None:
        """End a call that proved nothing either way (cancelled, rejected as a client error)."""
        self._trial_in_flight = False

    async def call(
        self,
        fn: Callable[[], Awaitable[T]],
        *,
        is_failure: Callable[[BaseException], bool] = _always,
    ) -> T:
        """Run `fn` under the breaker; exceptions for which `is_failure` is true count."""
        self.before_call()
        try:
            result = await fn()
        except BaseException as exc:
            if isinstance(exc, Exception) and is_failure(exc):
                self.record_failure()
            else:
                self.release()
            raise
        self.record_success()
        return result

    def __repr__(self) -> str:
        return (
            f"CircuitBreaker(state={self.state.value!r}, failures={self._failures}, "
            f"failure_threshold={self._failure_threshold}, reset_timeout={self._reset_timeout})"
        )
