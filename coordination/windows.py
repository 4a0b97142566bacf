"""Shared rate limits: a moving window per name in Redis, through the `limits` library.

A name (an API key, a client address, an address sending bad keys) may make `per_minute`
requests in any 60 seconds, counted by every worker and instance together. `hit` answers
None while Redis is unreachable: the caller then decides with its own local buckets.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItemPerMinute, RateLimitItemPerSecond
from limits.aio.storage import RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter

from coordination.link import FAILURES, RedisLink


@dataclass(frozen=True, slots=True)
class Decision:
    """Redis's answer: allowed, or refused with seconds until the window has room."""

    allowed: bool
    retry_after: float = 0.0


class SharedWindows:
    """Moving windows in Redis under the link's prefix (`<prefix>limits/...`)."""

    def __init__(self, link: RedisLink) -> None:
        self._link = link
        shared: dict[str, Any] = {"connection_pool": link.client.connection_pool}
        storage = RedisStorage(
            "async+redis://", implementation="redispy", key_prefix=link.key("limits"), **shared
        )
        self._limiter = MovingWindowRateLimiter(storage)

    async def hit(self, namespace: str, name: str, per_minute: float) -> Decision | None:
        """Count one request of `name`; None when Redis cannot say (decide locally)."""
        return await self.hit_per(namespace, name, max(1, math.floor(per_minute)), 60)

    async def hit_per(
        self, namespace: str, name: str, amount: int, seconds: int
    ) -> Decision | None:
        """Count one of `amount` allowed per `seconds`; None when Redis cannot say."""
        if not self._link.up:
            return None
        item = (
            RateLimitItemPerMinute(amount, namespace=namespace)
            if seconds == 60
            else RateLimitItemPerSecond(amount, seconds, namespace=namespace)
        )
        try:
            if await self._limiter.hit(item, name):
                return Decision(True)
            stats = await self._limiter.get_window_stats(item, name)
        except FAILURES as exc:
            self._link.failed(exc)
            return None
        return Decision(False, max(0.0, stats.reset_time - time.time()))
