"""HEAD is answered as GET, as RFC 9110 asks of every general-purpose server.

Uptime monitors and load balancers probe `/health` with HEAD; the REST routes (FastAPI adds no
HEAD to GET routes) and the GraphQL view refused it with 405. The routes are handed a copy of
the scope saying GET; uvicorn reads its own scope's method and leaves the body out, and the
layers outside this one (access line, metrics, audit) still record HEAD.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HeadAsGet:
    """Pure ASGI: an HTTP HEAD request goes on as GET; anything else as it came."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") == "HEAD":  # websockets and lifespan have no method
            scope = {**scope, "method": "GET"}
        await self.app(scope, receive, send)
