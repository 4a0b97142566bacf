"""Shared rate limits: a moving window per name in Redis, counted and read in one call.

A name (an API key, a client address, an address sending bad keys) may make `per_minute`
requests in any 60 seconds, counted by every worker and instance together. `hit` answers
None while Redis is unreachable: the caller then decides with its own local buckets.
Windows count whole requests, so a fractional rate gets a longer window (`window_for`).

The window is the `limits` library's moving window: a list of request times, newest first,
under the key its `MovingWindowRateLimiter` uses, so workers of a release that counted through
`limits` and of this one count together while a deployment rolls. `limits` answers a count
with yes or no only; what is left needs a second round trip, which halved the checks a worker
could make. `_COUNT` does both in one script (the library's two, joined).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from functools import lru_cache

from limits import RateLimitItem, RateLimitItemPerMinute, RateLimitItemPerSecond

from coordination.link import FAILURES, RedisLink
from domain.rate_standing import RateStanding

_COUNT = """
local now, limit, span = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local edge = now - span
local last = redis.call('lindex', KEYS[1], limit - 1)
local allowed = not (last and tonumber(last) >= edge)
if allowed then
    redis.call('lpush', KEYS[1], ARGV[1])
    redis.call('ltrim', KEYS[1], 0, limit - 1)
    redis.call('expire', KEYS[1], span)
end
local low, high, count, oldest = 0, redis.call('llen', KEYS[1]) - 1, 0, ARGV[1]
while low <= high do
    local mid = math.floor((low + high) / 2)
    local at = redis.call('lindex', KEYS[1], mid)
    if tonumber(at) >= edge then
        count, oldest, low = mid + 1, at, mid + 1
    else
        high = mid - 1
    end
end
return {allowed and 1 or 0, count, oldest}
"""
"""KEYS[1]: the window; ARGV: now (seconds), the requests allowed, the window's seconds.
Counts one request if the window has room, and answers (counted, requests in the window, the
oldest one's time): a binary search, as the list holds at most `limit` times, newest first."""

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
    """Moving windows in Redis under the link's prefix (`<prefix>limits:LIMITER/...`)."""

    def __init__(self, link: RedisLink, clock: Callable[[], float] = time.time) -> None:
        self._link = link
        self._prefix = link.key("limits") + ":"
        self._count = link.client.register_script(_COUNT)
        self._clock = clock  # wall time: workers on other machines count in the same list

    async def hit(self, namespace: str, name: str, per_minute: float) -> RateStanding | None:
        """Count one request of `name` (one round trip); None when Redis cannot say."""
        if not self._link.up:
            return None
        amount, seconds = window_for(per_minute)
        now = self._clock()
        key = self._prefix + _item(namespace, amount, seconds).key_for(name)
        try:
            allowed, count, oldest = await self._count(keys=[key], args=[now, amount, seconds])
        except FAILURES as exc:
            self._link.failed(exc)
            return None
        remaining = max(0, amount - count) if allowed else 0
        reset = max(0.0, float(oldest) + seconds - now)  # the oldest request leaves the window
        return RateStanding(namespace, bool(allowed), amount, seconds, remaining, reset)


@lru_cache(maxsize=256)  # asked per request, of the few kinds and rates in use
def _item(namespace: str, amount: int, seconds: int) -> RateLimitItem:
    """The `limits` item whose key names this window."""
    if seconds == 60:
        return RateLimitItemPerMinute(amount, namespace=namespace)
    return RateLimitItemPerSecond(amount, seconds, namespace=namespace)
