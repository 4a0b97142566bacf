"""Per-key request rates: a key over its limit gets 429 with `Retry-After`, not a queue."""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from domain.access import Principal
from domain.clocks import Monotonic
from domain.errors import ErrorCode
from gateway.authentication import KeyUser, retry_after_header
from gateway.buckets import Buckets
from gateway.responses import error_response


class KeyRateLimiter:
    """Each key may burst up to its per-minute limit, then refills evenly.

    `default_per_minute` applies to keys without a limit of their own (0: unlimited).
    """

    def __init__(self, default_per_minute: float = 600.0, *, clock: Monotonic = time.monotonic):
        if default_per_minute < 0:
            raise ValueError("default_per_minute must be >= 0 (0 means unlimited)")
        self.default_per_minute = default_per_minute
        self._buckets = Buckets(100_000, clock)

    def check(self, principal: Principal) -> float | None:
        """None when the key may make this request now, else seconds until it may."""
        per_minute = principal.rate_limit_per_minute or self.default_per_minute
        if not per_minute:
            return None
        return self._buckets.take(principal.key_id, per_minute)


class RateLimitMiddleware:
    """Pure ASGI: refuse an authenticated request over its key's rate (limiter from app.state
    by default, since the lifespan builds it)."""

    def __init__(self, app: ASGIApp, *, limiter: KeyRateLimiter | None = None) -> None:
        self.app = app
        self._limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if scope["type"] != "http" or not isinstance(user, KeyUser):
            await self.app(scope, receive, send)
            return
        limiter = self._limiter or scope["app"].state.rate_limiter
        retry_after = limiter.check(user.principal)
        if retry_after is None:
            await self.app(scope, receive, send)
            return
        response = error_response(
            ErrorCode.RATE_LIMITED,
            "rate limit exceeded for this API key",
            headers={"Retry-After": retry_after_header(retry_after)},
        )
        await response(scope, receive, send)
