"""The access middlewares in their order: authenticate, audit, then enforce the key's rate.

Audit sits outside the rate limit so refused (429) requests are audited too.
"""

from __future__ import annotations

from collections.abc import Collection

from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware

from gateway.audit import AuditMiddleware
from gateway.authentication import ApiKeyBackend, Authenticator, on_auth_error
from gateway.rate_limit import KeyRateLimiter, RateLimitMiddleware
from storage.usage import UsageRecorder


def access_middleware(
    *,
    exempt_paths: Collection[str] = (),
    authenticator: Authenticator | None = None,
    recorder: UsageRecorder | None = None,
    limiter: KeyRateLimiter | None = None,
) -> list[Middleware]:
    """Collaborators default to `app.state.authenticator`/`usage_recorder`/`rate_limiter`."""
    return [
        Middleware(
            AuthenticationMiddleware,
            backend=ApiKeyBackend(authenticator, exempt_paths),
            on_error=on_auth_error,
        ),
        Middleware(AuditMiddleware, recorder=recorder),
        Middleware(RateLimitMiddleware, limiter=limiter, exempt_paths=exempt_paths),
    ]
