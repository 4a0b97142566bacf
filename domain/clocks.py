"""The two kinds of clock the code takes, named apart so a parameter says which it wants.

`Monotonic` measures intervals (rate limits, timeouts, TTLs); `WallClock` tells the UTC time
of day (expiry, freshness, audit timestamps). Both are injectable so tests move time by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Monotonic = Callable[[], float]
WallClock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)
