"""Shared rate limits: a moving window per name in Redis, through the `limits` library.

A name (an API key, a client address, an address sending bad keys) may make `per_minute`
requests in any 60 seconds, counted by every worker and instance together. `hit` answers
None while Redis is unreachable: the caller then decides with its own local buckets.
Windows count whole requests, so a fractional rate gets a longer window (`window_for`).
"""

from __future__ import annotations

import math
import time
from functools import lru_cache
from typing import Any

from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from coordination.link import FAILURES, RedisLink
from domain.rate_standing import RateStanding

MAX_WINDOW_MINUTES = 10  # longer windows would let a fractional rate save up a large burst


@lru_cache(maxsize=256)  # asked per request, of the few rates in use
def window_for(per_minute: float) -> tuple[int, int]:
    """(requests, seconds) of the window for a rate per minute: never more than the rate, as
    close to it as a window of at most MAX_WINDOW_MINUTES allows (1.5 → 3 per 120 s), and one
    request per interval for rates below one a minute (0.5 → 1 per 120 s)."""
    if per_minute < 1:
        return 1, math.ceil(60 / per_minute)
    amount, minutes = max(
        ((math.floor(per_minute * m + 1e-9), m) for m in range(1, MAX_WINDOW_MINUTES + 1)),
        key=lambda window: (window[0] / window[1], -window[1]),
    )
    return amount, 60 * minutes


class SharedWindows:
    """Moving windows in Redis under the link's prefix (`<prefix>limits/...`)."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        shared: dict[str, Any] = {"connection_pool": link.client.connection_pool}
        storage = RedisStorage(
            "async+redis://", implementation="redispy", key_prefix=link.key("limits"), **shared
        )
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, namespace: str, name: str, per_minute: float) -> RateStanding | None:
        """Count one request of `name`; None when Redis cannot say (decide locally).

        Two round trips: the library's counting answers only yes or no, and what is left in
        the window is read after it."""
        if not self._link.up:
            return None
        amount, seconds = window_for(per_minute)
        item = (
            RateLimitItemPerMinute(amount, namespace=namespace)
            if seconds == 60
            else RateLimitItemPerSecond(amount, seconds, namespace=namespace)
        )
        try:
            allowed = await self._limiter.hit(item, name)
            stats = await self._limiter.get_window_stats(item, name)
        except FAILURES as exc:
            self._link.failed(exc)
            return None
        remaining = max(0, stats.remaining) if allowed else 0
        reset = max(0.0, stats.reset_time - time.time())  # the oldest request leaves the window
        return RateStanding(namespace, allowed, amount, seconds, remaining, reset)
