"""Who may call a REST route: `requires(scope)`, the same rule GraphQL permissions apply.

A route declares `context: Reader` (or `Admin`); the dependency builds the request's service
context, names the route for the audit trail and asks `RequestContext.require(scope)`, which
raises UNAUTHENTICATED or FORBIDDEN. `document_security` makes `/openapi.json` say how to send
a key: the key itself is read by the gateway's access middleware, so the security schemes are
written into the document rather than declared as dependencies, which FastAPI would solve on
every request (a sixteenth of a 1-bar `/api/v1/bars`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute, APIRouter
from fastapi.security import APIKeyHeader, HTTPBearer

from domain.access import Scope
from gateway.audit import AUDIT_ENDPOINT
from gateway.authentication import principal_of
from resolvers.context import RequestContext, make_context

API_KEY = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key, e.g. `mg_…`.")
BEARER = HTTPBearer(auto_error=False, description="The same key as `Authorization: Bearer`.")
SCHEMES = (API_KEY, BEARER)
Guard = Callable[[Request], Awaitable[RequestContext]]
_GUARDS: set[Guard] = set()  # every dependency `requires` made


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


def requires(scope: Scope) -> Guard:
    """A dependency giving the route its context once the caller holds `scope`."""

    async def dependency(request: Request) -> RequestContext:
        context = await request_context(request)
        context.require(scope)
        return context

    _GUARDS.add(dependency)
    return dependency


def guard_of(route: APIRoute) -> Guard | None:
    """The dependency `requires` made that guards `route`, None for a public route."""
    return next((d.call for d in route.dependant.dependencies if d.call in _GUARDS), None)


def document_security(app: FastAPI, routers: Iterable[APIRouter]) -> None:
    """Say in `app`'s OpenAPI document that each route of `routers` (not yet included) guarded
    by `requires` takes a key, in either scheme, as FastAPI says it for security dependencies."""
    either: list[dict[str, list[str]]] = [{scheme.scheme_name: []} for scheme in SCHEMES]
    for route in (r for router in routers for r in router.routes):
        if isinstance(route, APIRoute) and guard_of(route) is not None:
            route.openapi_extra = {**(route.openapi_extra or {}), "security": either}
    stock = app.openapi

    def openapi() -> dict[str, Any]:
        document = stock()  # made once, then kept by FastAPI
        schemes = document.setdefault("components", {}).setdefault("securitySchemes", {})
        for scheme in SCHEMES:
            written = scheme.model.model_dump(mode="json", by_alias=True, exclude_none=True)
            schemes[scheme.scheme_name] = written
        return document

    app.openapi = openapi  # type: ignore[method-assign]


Reader = Annotated[RequestContext, Depends(requires(Scope.READ))]
Admin = Annotated[RequestContext, Depends(requires(Scope.ADMIN))]
