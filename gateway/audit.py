"""The audit trail: each authenticated request recorded once it is answered (batched writes).

What was done is recorded, not just where: a handler names it in the request state under
`AUDIT_ENDPOINT` (the GraphQL view: `graphql:<operation name>`; REST: its route), else the
path is recorded.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from domain.clocks import Monotonic
from gateway.authentication import KeyUser
from gateway.response_status import ResponseStatus
from storage.usage import UsageRecorder

AUDIT_ENDPOINT = "audit_endpoint"


class AuditMiddleware:
    """Pure ASGI: after an authenticated request, record key, endpoint, status and duration
    (recorder from app.state by default, since the lifespan builds it)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        recorder: UsageRecorder | None = None,
        clock: Monotonic = time.perf_counter,
    ) -> None:
        self.app = app
        self._recorder = recorder
        self._clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if scope["type"] != "http" or not isinstance(user, KeyUser):
            await self.app(scope, receive, send)
            return
        recorder = self._recorder or scope["app"].state.usage_recorder
        started = self._clock()
        response = ResponseStatus(send)
        try:
            await self.app(scope, receive, response.send)
        finally:
            state = scope.get("state", {})
            recorder.record(
                user.principal.key_id,
                endpoint=str(state.get(AUDIT_ENDPOINT) or scope["path"]),
                method=scope["method"],
                status_code=response.code,
                duration_ms=round((self._clock() - started) * 1000, 3),
            )
