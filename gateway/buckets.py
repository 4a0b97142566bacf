"""Token buckets by name (API key, client address), bounded in number; and the choice between
Redis's shared count and this process's buckets."""

from __future__ import annotations

import time

from coordination.windows import SharedWindows, window_for
from domain.clocks import Monotonic
from domain.rate_standing import RateStanding
from domain.token_bucket import TokenBucket


class Buckets:
    """One token bucket per name; the least recently created go first past `max_entries`."""

    def __init__(self, max_entries: int, clock: Monotonic = time.monotonic) -> None:
        self._max = max_entries
        self._clock = clock
        self._buckets: dict[object, TokenBucket] = {}

    def take(self, kind: str, name: str, per_minute: float) -> RateStanding:
        """Count one request of `name`. The policy reported is the shared window's for the
        same rate, so a client sees one policy whether Redis counts or this process does."""
        key = (kind, name)
        bucket = self._buckets.get(key)
        rate = per_minute / 60.0
        if bucket is None or bucket.rate_per_second != rate:
            while len(self._buckets) >= self._max:
                del self._buckets[next(iter(self._buckets))]
            bucket = TokenBucket(rate, max(1.0, per_minute), clock=self._clock)
            self._buckets[key] = bucket
        allowed, _ = bucket.try_acquire()
        quota, window = window_for(per_minute)
        tokens = bucket.balance  # as try_acquire left it: at most the capacity less one
        whole = int(tokens)  # >= 0 (nothing here takes on credit), and below the quota
        return RateStanding(kind, allowed, quota, window, whole, (whole + 1 - tokens) / rate)


async def shared_or_local(
    windows: SharedWindows | None, buckets: Buckets, kind: str, name: str, per_minute: float
) -> RateStanding:
    """Redis's count when it can give one, else the local bucket's."""
    if windows is not None:
        standing = await windows.hit(kind, name, per_minute)
        if standing is not None:
            return standing
    return buckets.take(kind, name, per_minute)
