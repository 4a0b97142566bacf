"""Who may call a REST route: `requires(scope)`, the same rule GraphQL permissions apply.

A route declares `context: Reader` (or `Admin`); the dependency builds the request's service
context, names the route for the audit trail and asks `RequestContext.require(scope)`, which
raises UNAUTHENTICATED or FORBIDDEN. The security schemes make `/openapi.json` say how to send
a key.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from domain.access import Scope
from gateway.audit import AUDIT_ENDPOINT
from gateway.authentication import principal_of
from resolvers.context import RequestContext, make_context

API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key, e.g. `mg_…`.")
BEARER = HTTPBearer(auto_error=False, description="The same key as `Authorization: Bearer`.")


async def request_context(request: Request) -> RequestContext:
    """A fresh service context; the audit trail records the route template, not the path.

    A coroutine though it never waits: FastAPI runs a plain function dependency in a worker
    thread, and that hop on every REST request cost a 1-bar `/api/v1/bars` a fifth of its
    requests a second."""
    state = request.scope.setdefault("state", {})
    route = request.scope.get("route")
    if route is not None:
        state[AUDIT_ENDPOINT] = f"{request.method} {route.path}"
    return make_context(
        request.app.state.services,
        principal_of(request),
        trace_id=state.get("trace_id"),
        writes=request.method not in ("GET", "HEAD"),  # a write's reads must see it: primary
    )


def requires(scope: Scope) -> Callable[..., Awaitable[RequestContext]]:
    """A dependency giving the route its context once the caller holds `scope`."""

    async def dependency(
        context: Annotated[RequestContext, Depends(request_context)],
        _key: Annotated[str | None, Security(API_KEY)],
        _bearer: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)],
    ) -> RequestContext:
        context.require(scope)
        return context

    return dependency


Reader = Annotated[RequestContext, Depends(requires(Scope.READ))]
Admin = Annotated[RequestContext, Depends(requires(Scope.ADMIN))]
