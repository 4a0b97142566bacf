"""CORS: Starlette's middleware, with the common request (no `Origin`) passed on cheaply.

Scripts, servers and same-origin pages send no `Origin`; for them Starlette's middleware only
adds `Origin` to the response's `Vary` (an answer without CORS headers must not be reused for
a page that needs them), yet builds a `Headers` view of the request and a `MutableHeaders`
one of the response to do it. Here a plain send wrapper adds the same `Vary`.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.middleware.cors import CORSMiddleware
from starlette.types import Message, Receive, Scope, Send

RawHeaders = list[tuple[bytes, bytes]]


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORSMiddleware (same options); a request without `Origin` gets only
    `Vary: Origin` added, as there."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or has_origin(scope["headers"]):
            await super().__call__(scope, receive, send)
            return

        async def send_varying(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = vary_origin(message.get("headers", ()))
            await send(message)

        await self.app(scope, receive, send_varying)


def has_origin(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    return any(name == b"origin" for name, _ in headers)


def vary_origin(headers: Iterable[tuple[bytes, bytes]]) -> RawHeaders:
    """`headers` with `Origin` added to `Vary` as Starlette's CORSMiddleware adds it: every
    `vary` value joined into one header where the first one was, else one at the end."""
    kept: RawHeaders = []
    varies: list[bytes] = []
    first = -1
    for name, value in headers:
        if name == b"vary":
            if first < 0:
                first = len(kept)
                kept.append((name, b""))
            varies.append(value)
        else:
            kept.append((name, value))
    joined = (b"vary", b", ".join([*varies, b"Origin"]))
    if first < 0:
        kept.append(joined)
    else:
        kept[first] = joined
    return kept
