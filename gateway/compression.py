"""Gzip for clients that accept it; no work at all for the others, little for small answers.

Starlette's GZipMiddleware wraps every response, even for a client that does not accept gzip,
only to add `Vary: Accept-Encoding` to its big answers (a cache then keeps the identity answer
apart from the gzipped one; without the header such a cache may serve the identity answer to
a gzip client, which can read it anyway). Skipping that costs nothing a client notices and
saves every such request a responder object and a send wrapper.

For a client that does accept gzip (browsers, httpx, requests, Apollo: nearly all), Starlette
builds a responder per request (its content types normalised anew, the request's and the
response's headers parsed) only to send a small answer as it is: 80,000 instructions of a
1-bar query's 1,000,000 (callgrind). Here a small answer sent whole (one body message under
`minimum_size`, as every plain JSON answer is) goes out as it is straight away, exactly as
Starlette would send it; anything else is handed to Starlette's responder from its first
message on, so compression itself stays Starlette's.
"""

from __future__ import annotations

from starlette.middleware.gzip import GZipMiddleware, GZipResponder
from starlette.types import Message, Receive, Scope, Send

from gateway.scope_headers import first_value


class GzipWhenAccepted(GZipMiddleware):
    """Starlette's GZipMiddleware (same options) for requests whose `Accept-Encoding` names
    gzip; the others go straight to the app."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not accepts_gzip(scope["headers"]):
            await self.app(scope, receive, send)
            return
        held: Message | None = None  # the response start, until its first body is seen
        onward: Send | None = None  # where messages go once that is decided

        async def send_small_as_is(message: Message) -> None:
            nonlocal held, onward
            if onward is not None:
                await onward(message)
            elif held is None and message["type"] == "http.response.start":
                held = message
            elif held is not None and _small_and_whole(message, self.minimum_size):
                onward = send
                await send(held)
                await send(message)
            else:
                onward = self._responder(send)
                if held is not None:
                    await onward(held)
                await onward(message)

        await self.app(scope, receive, send_small_as_is)

    def _responder(self, send: Send) -> Send:
        """Starlette's own gzip responder, sending on to `send` (what its `__call__` sets up)."""
        responder = GZipResponder(
            self.app,
            self.minimum_size,
            compresslevel=self.compresslevel,
            thread_minimum_size=self.thread_minimum_size,
            exclude_content_types=self.exclude_content_types,
        )
        responder.send = send
        return responder.send_with_compression


def _small_and_whole(message: Message, minimum_size: int) -> bool:
    """A whole body under the size Starlette compresses from: it sends such a body as it is,
    headers untouched, whatever the content type or encoding."""
    return (
        message["type"] == "http.response.body"
        and not message.get("more_body", False)
        and len(message.get("body", b"")) < minimum_size
    )


def accepts_gzip(headers: list[tuple[bytes, bytes]]) -> bool:
    """Starlette's test: the first `Accept-Encoding` header mentions gzip."""
    encodings = first_value(headers, b"accept-encoding")
    return encodings is not None and b"gzip" in encodings
