"""The busiest route taken without Starlette's exception middleware and router.

Starlette sends every request through its ExceptionMiddleware (a Request object, a wrapper
around `send`) and its Router (each route's pattern tried, a child scope made): 32,000
instructions of a 1-bar query (callgrind), for the one route that takes nearly every request.
This layer, the innermost of the app's own, hands that route's requests (its path, one of its
methods, no `root_path`) straight to the route's app, with the scope keys the router would
have set; everything else (websockets, other methods and their 405, other paths, a mounted
app) goes the router's way as before. The route's app must answer its own errors, as the
GraphQL view does (gateway/graphql_view.py): Starlette's HTTPException handling is not on
this way.

Being the innermost layer, it also hands HEAD requests on as GET, as RFC 9110 asks of every
general-purpose server: uptime monitors probe `/health` with HEAD, which the REST routes
(FastAPI adds no HEAD to GET routes) and the GraphQL view refused with 405. The routes get a
copy of the scope saying GET; uvicorn reads its own scope's method and leaves the body out,
and the layers outside (access line, metrics, audit) still record HEAD. Here, not in a layer of
its own: a layer costs every request a frame (3,700 instructions of a 1-bar query).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

SideLane = Callable[[Scope, Receive, Send], Awaitable[bool]]
"""Another lane past the router: answers what it takes (True), or leaves it (False, nothing
sent or read), as gateway/rest/lane.py does for the REST bar reads."""


class RouteLane:
    """Pure ASGI: `route`'s HTTP requests straight to its app, then what `side` takes, the
    rest to `app`; HEAD as GET."""

    def __init__(self, app: ASGIApp, *, route: Route, side: SideLane | None = None) -> None:
        self.app = app
        self._route = route
        self._methods = frozenset(route.methods or ())
        self._side = side

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") == "HEAD":  # websockets and lifespan have no method
            scope = {**scope, "method": "GET"}
        route = self._route
        if (
            scope["type"] != "http"
            or scope["path"] != route.path
            or scope["method"] not in self._methods
            or scope.get("root_path")
        ):
            if self._side is None or not await self._side(scope, receive, send):
                await self.app(scope, receive, send)
            return
        scope.setdefault("router", scope["app"].router)
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = dict(scope.get("path_params", {}))
        await route.app(scope, receive, send)
