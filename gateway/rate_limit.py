"""Request rates: per key, and per client address for requests without a key.

Over its limit a caller gets 429 with `Retry-After`, not a queue. With Redis (`windows`) every
worker and instance counts together (a moving window per minute); while Redis is unreachable,
and without it, each process counts alone (a token bucket per name).
"""

from __future__ import annotations

import time

from starlette.responses import Response
from starlette.types import Scope

from coordination.windows import SharedWindows
from domain.access import Principal
from domain.clocks import Monotonic
from domain.errors import ErrorCode
from gateway.authentication import retry_after_header
from gateway.buckets import Buckets, shared_or_local
from gateway.client_address import client_address
from gateway.responses import error_response


class KeyRateLimiter:
    """Each key may burst up to its per-minute limit, then refills evenly.

    `default_per_minute` applies to keys without a limit of their own, `anonymous_per_minute`
    to each client address sending requests without a key (0: unlimited, for either).
    `windows` shares the counts through Redis.
    """

    def __init__(
        self,
        default_per_minute: float = 600.0,
        *,
        anonymous_per_minute: float = 0.0,
        clock: Monotonic = time.monotonic,
        windows: SharedWindows | None = None,
    ):
        if default_per_minute < 0 or anonymous_per_minute < 0:
            raise ValueError("per-minute limits must be >= 0 (0 means unlimited)")
        self.default_per_minute = default_per_minute
        self.anonymous_per_minute = anonymous_per_minute
        self._buckets = Buckets(100_000, clock)
        self._windows = windows

    async def check(self, principal: Principal) -> float | None:
        """None when the key may make this request now, else seconds until it may."""
        per_minute = principal.rate_limit_per_minute or self.default_per_minute
        if not per_minute:
            return None
        return await self._take("key", str(principal.key_id), per_minute)

    async def check_anonymous(self, address: str) -> float | None:
        """The same for a request without a key from `address`."""
        if not self.anonymous_per_minute:
            return None
        return await self._take("address", address, self.anonymous_per_minute)

    async def _take(self, kind: str, name: str, per_minute: float) -> float | None:
        return await shared_or_local(self._windows, self._buckets, kind, name, per_minute)


async def over_rate(
    limiter: KeyRateLimiter, scope: Scope, principal: Principal | None
) -> Response | None:
    """The 429 (with `Retry-After`) for a request over its key's rate, or over its address's
    rate when it has no key; None when it may go on."""
    if principal is not None:
        retry_after = await limiter.check(principal)
        whose = "this API key"
    elif limiter.anonymous_per_minute:  # else unlimited: the address is not even read
        retry_after = await limiter.check_anonymous(client_address(scope))
        whose = "requests without an API key from this address"
    else:
        return None
    if retry_after is None:
        return None
    return error_response(
        ErrorCode.RATE_LIMITED,
        f"rate limit exceeded for {whose}",
        headers={"Retry-After": retry_after_header(retry_after)},
    )
