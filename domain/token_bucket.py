"""An async token bucket.

Used two ways: the Polygon client `await`s `acquire()` so it never exceeds the plan's request
rate (waiting is cheaper than a 429 and a backoff), and the HTTP layer calls `try_acquire()` per
API key to answer 429 with a `Retry-After` instead of queueing the caller.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from domain.clocks import Monotonic

Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """`capacity` tokens at most, refilled continuously at `rate_per_second`.

    `acquire()` reserves its token at once (the balance may go negative) and then sleeps off the
    debt, so concurrent waiters are served in call order without a lock and without polling.
    The clock and sleep are injectable so tests advance time instead of waiting for it.
    """

    __slots__ = ("_capacity", "_clock", "_rate", "_sleep", "_tokens", "_updated")

    def __init__(
        self,
        rate_per_second: float,
        capacity: float = 1.0,
        *,
        clock: Monotonic = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if not rate_per_second > 0:
            raise ValueError(f"rate_per_second must be > 0, got {rate_per_second!r}")
        if not capacity >= 1:
            raise ValueError(f"capacity must be >= 1, got {capacity!r}")
        self._rate = float(rate_per_second)
        self._capacity = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self._capacity
        self._updated = clock()

    @property
    def rate_per_second(self) -> float:
        return self._rate

    @property
    def capacity(self) -> float:
        return self._capacity

    @property
    def tokens(self) -> float:
        """Tokens available now (negative while waiters hold reservations)."""
        self._refill()
        return self._tokens

    @property
    def balance(self) -> float:
        """Tokens as the last take or refill left them, without reading the clock."""
        return self._tokens

    def _refill(self) -> None:
        now = self._clock()
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)

    def try_acquire(self) -> tuple[bool, float]:
        """Take a token if one is available now; else return how long until one will be."""
        self._refill()
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True, 0.0
        return False, (1.0 - self._tokens) / self._rate

    async def acquire(self) -> None:
        """Wait until a token is ours. Cancelling the wait gives the reservation back."""
        self._refill()
        self._tokens -= 1.0
        if self._tokens >= 0.0:
            return
        wait = -self._tokens / self._rate
        try:
            await self._sleep(wait)
        except BaseException:
            self._refill()
            self._tokens = min(self._capacity, self._tokens + 1.0)
            raise

    def __repr__(self) -> str:
        return f"TokenBucket(rate_per_second={self._rate!r}, capacity={self._capacity!r})"
