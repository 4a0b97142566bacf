"""Who may call, as one pure-ASGI layer: authenticate, audit, then enforce the rate (and say
on the response where the caller stands against it).

One layer instead of Starlette's AuthenticationMiddleware, an audit and a rate-limit layer:
each layer costs every request a frame, and Starlette's an `HTTPConnection`. The order is
theirs: a refused key (401, 429 for guessing, 503 with the database down) is answered before
anything else and not audited; an authenticated request is audited even when its rate
refuses it (429).
"""

from __future__ import annotations

import time
from collections.abc import Collection

from starlette.authentication import AuthCredentials, UnauthenticatedUser
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from domain.access import Principal
from domain.clocks import Monotonic
from domain.errors import ServiceError
from gateway.audit import audit
from gateway.authentication import Authenticator, KeyAuthentication, credentials, refusal
from gateway.rate_headers import WithRateHeaders
from gateway.rate_limit import KeyRateLimiter, count_request, rate_refusal
from gateway.response_status import ResponseStatus
from storage.usage import UsageRecorder

ANONYMOUS = UnauthenticatedUser()  # holds nothing: one serves every anonymous request


class AccessMiddleware:
    """Pure ASGI: sets `scope["auth"]` and `scope["user"]` as Starlette's
    AuthenticationMiddleware does (websockets too: a refused key closes the socket), then
    for HTTP enforces the rate and audits a key's request. Collaborators default to
    `app.state.authenticator`/`usage_recorder`/`rate_limiter` (the lifespan builds them);
    paths in `exempt_paths` are neither authenticated nor limited."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        exempt_paths: Collection[str] = (),
        authenticator: Authenticator | None = None,
        recorder: UsageRecorder | None = None,
        limiter: KeyRateLimiter | None = None,
        clock: Monotonic = time.perf_counter,
    ) -> None:
        self.app = app
        self._authentication = KeyAuthentication(authenticator, exempt_paths)
        self._exempt = frozenset(exempt_paths)
        self._recorder = recorder
        self._limiter = limiter
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind != "http" and kind != "websocket":
            await self.app(scope, receive, send)
            return
        try:
            user = await self._authentication.user(scope)
        except ServiceError as error:
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1000})
            else:
                await refusal(error)(scope, receive, send)
            return
        if user is None:
            scope["auth"], scope["user"] = AuthCredentials(), ANONYMOUS
        else:
            scope["auth"], scope["user"] = credentials(user.principal), user
        if kind != "http" or scope["path"] in self._exempt:
            await self.app(scope, receive, send)
        elif user is None:
            await self._limited(scope, receive, send, None)
        else:
            recorder = self._recorder or scope["app"].state.usage_recorder
            started = self._clock()
            response = ResponseStatus(send)
            try:
                await self._limited(scope, receive, response.send, user.principal)
            finally:
                audit(recorder, user.principal, scope, response.code, self._clock() - started)

    async def _limited(
        self, scope: Scope, receive: Receive, send: Send, principal: Principal | None
    ) -> None:
        limiter: KeyRateLimiter = self._limiter or scope["app"].state.rate_limiter
        standing = await count_request(limiter, scope, principal)
        if standing is None:
            await self.app(scope, receive, send)
        elif standing.allowed:
            await self.app(scope, receive, WithRateHeaders(send, standing).send)
        else:
            await rate_refusal(standing)(scope, receive, send)


def access_middleware(
    *,
    exempt_paths: Collection[str] = (),
    authenticator: Authenticator | None = None,
    recorder: UsageRecorder | None = None,
    limiter: KeyRateLimiter | None = None,
) -> list[Middleware]:
    """The access layer as app middleware (collaborators default to `app.state`'s)."""
    return [
        Middleware(
            AccessMiddleware,
            exempt_paths=exempt_paths,
            authenticator=authenticator,
            recorder=recorder,
            limiter=limiter,
        )
    ]
