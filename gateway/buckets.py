"""Token buckets by name (API key, client address), bounded in number; and the choice between
Redis's shared count and this process's buckets."""

from __future__ import annotations

import time

from coordination.windows import SharedWindows
from domain.clocks import Monotonic
from domain.token_bucket import TokenBucket


class Buckets:
    """One token bucket per name; the least recently created go first past `max_entries`."""

    def __init__(self, max_entries: int, clock: Monotonic = time.monotonic) -> None:
        self._max = max_entries
        self._clock = clock
        self._buckets: dict[object, TokenBucket] = {}

    def take(self, name: object, per_minute: float) -> float | None:
        """None when `name` may proceed, else seconds until it may."""
        bucket = self._buckets.get(name)
        if bucket is None or bucket.rate_per_second != per_minute / 60.0:
            while len(self._buckets) >= self._max:
                del self._buckets[next(iter(self._buckets))]
            bucket = TokenBucket(per_minute / 60.0, max(1.0, per_minute), clock=self._clock)
            self._buckets[name] = bucket
        allowed, retry_after = bucket.try_acquire()
        return None if allowed else retry_after


async def shared_or_local(
    windows: SharedWindows | None, buckets: Buckets, kind: str, name: str, per_minute: float
) -> float | None:
    """Redis's decision when it can give one, else the local bucket's: None, or seconds
    until `name` may go again."""
    if windows is not None:
        decision = await windows.hit(kind, name, per_minute)
        if decision is not None:
            return None if decision.allowed else decision.retry_after
    return buckets.take((kind, name), per_minute)
