"""Gzip for clients that accept it; no work at all for the others.

Starlette's GZipMiddleware wraps every response, even for a client that does not accept gzip,
only to add `Vary: Accept-Encoding` to its big answers (a cache then keeps the identity answer
apart from the gzipped one; without the header such a cache may serve the identity answer to
a gzip client, which can read it anyway). Skipping that costs nothing a client notices and
saves every such request a responder object and a send wrapper.
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Receive, Scope, Send


class GzipWhenAccepted(GZipMiddleware):
    """Starlette's GZipMiddleware (same options) for requests whose `Accept-Encoding` names
    gzip; the others go straight to the app."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and accepts_gzip(scope["headers"]):
            await super().__call__(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def accepts_gzip(headers: list[tuple[bytes, bytes]]) -> bool:
    """Starlette's test: the first `Accept-Encoding` header mentions gzip."""
    for name, value in headers:
        if name == b"accept-encoding":
            return b"gzip" in value
    return False
