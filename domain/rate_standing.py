"""Where a caller stands against its request rate, as both the shared windows (Redis) and the
local token buckets report it: the HTTP layer turns it into a 429 or into `RateLimit` fields
that let a client pace itself instead of learning its limit from refusals."""

from __future__ import annotations

from typing import NamedTuple


class RateStanding(NamedTuple):  # a tuple: made on every limited request, at a third the cost
    """After counting one request of `policy` (what is counted: "key", "address"): whether it
    may go on, the policy's `quota` requests per `window` seconds, how many of them are left,
    and seconds until one more is. Refused, `remaining` is 0 and `reset` is the wait."""

    policy: str
    allowed: bool
    quota: int
    window: int
    remaining: int
    reset: float
