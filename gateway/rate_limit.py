"""Request rates: per key, and per client address for requests without a key.

Over its limit a caller gets 429 with `Retry-After`, not a queue; every limited response says
where the caller stands (`gateway/rate_headers.py`). With Redis (`windows`) every worker and
instance counts together (a moving window per minute); while Redis is unreachable, and
without it, each process counts alone (a token bucket per name).
"""

from __future__ import annotations

import time

from starlette.responses import Response
from starlette.types import Scope

from coordination.windows import SharedWindows
from domain.access import Principal
from domain.clocks import Monotonic
from domain.errors import ErrorCode
from domain.rate_standing import RateStanding
from gateway.authentication import retry_after_header
from gateway.buckets import Buckets, shared_or_local
from gateway.client_address import client_address
from gateway.rate_headers import rate_headers
from gateway.responses import error_response

KEY_POLICY = "key"  # the policies' names in the headers: what is counted
ADDRESS_POLICY = "address"
_KEYLESS = "requests without an API key from this address"


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

    async def check(self, principal: Principal) -> RateStanding | None:
        """Count a request of the key: where it stands, None when it is unlimited."""
        per_minute = principal.rate_limit_per_minute or self.default_per_minute
        if not per_minute:
            return None
        return await self._take(KEY_POLICY, str(principal.key_id), per_minute)

    async def check_anonymous(self, address: str) -> RateStanding | None:
        """The same for a request without a key from `address`."""
        if not self.anonymous_per_minute:
            return None
        return await self._take(ADDRESS_POLICY, address, self.anonymous_per_minute)

    async def _take(self, kind: str, name: str, per_minute: float) -> RateStanding:
        return await shared_or_local(self._windows, self._buckets, kind, name, per_minute)


async def count_request(
    limiter: KeyRateLimiter, scope: Scope, principal: Principal | None
) -> RateStanding | None:
    """Count the request against its key's rate, or its address's when it has no key; None
    when neither is limited."""
    if principal is not None:
        return await limiter.check(principal)
    if limiter.anonymous_per_minute:  # else unlimited: the address is not even read
        return await limiter.check_anonymous(client_address(scope))
    return None


def rate_refusal(standing: RateStanding) -> Response:
    """The 429, with `Retry-After` and the `RateLimit` fields."""
    whose = "this API key" if standing.policy == KEY_POLICY else _KEYLESS
    refusal = error_response(
        ErrorCode.RATE_LIMITED,
        f"rate limit exceeded for {whose}",
        headers={"Retry-After": retry_after_header(standing.reset)},
    )
    refusal.raw_headers.extend(rate_headers(standing))
    return refusal
