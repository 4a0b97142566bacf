"""CORS: Starlette's middleware, its simple responses done on raw header lists.

Scripts, servers and same-origin pages send no `Origin`; for them Starlette's middleware only
adds `Origin` to the response's `Vary` (an answer without CORS headers must not be reused for
a page that needs them). Browsers send `Origin` with every POST, the dashboard's too; for those
Starlette adds its CORS headers through a `Headers` view of the request and a `MutableHeaders`
one of the response: 58,000 instructions of a 1-bar query (callgrind). Here both kinds get
the very same headers from a plain send wrapper over the raw list; preflight requests
(`OPTIONS` with `Access-Control-Request-Method`) are still answered by Starlette's code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.scope_headers import first_value

RawHeaders = list[tuple[bytes, bytes]]
_ALLOW_ORIGIN = b"access-control-allow-origin"


class CorsMiddleware(CORSMiddleware):
    """Starlette's CORSMiddleware (same options and answers)."""

    def __init__(self, app: ASGIApp, /, **options: Any) -> None:
        super().__init__(app, **options)
        # what Starlette's `headers.update(self.simple_headers)` writes, as raw pairs
        self._simple = [(k.lower().encode("latin-1"), v.encode("latin-1"))
                        for k, v in self.simple_headers.items()]  # fmt: skip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        headers = scope["headers"]
        origin = first_value(headers, b"origin")
        preflight = scope["method"] == "OPTIONS" and origin is not None
        if preflight and first_value(headers, b"access-control-request-method") is not None:
            await super().__call__(scope, receive, send)
            return
        added = [] if origin is None else self._simple_headers(origin)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                answered = message.get("headers", ())
                message["headers"] = vary_origin(
                    with_headers(answered, added) if added else answered
                )
            await send(message)

        await self.app(scope, receive, send_with_cors)

    def _simple_headers(self, origin: bytes) -> RawHeaders:
        """What Starlette sets on a simple response to a request from `origin`, in its order
        (`Vary` apart): its simple headers, then the origin itself where it is echoed."""
        text = origin.decode("latin-1")
        echoed = (self.allow_all_origins and self.allow_credentials) or (
            not self.allow_all_origins and self.is_allowed_origin(origin=text)
        )
        return [*self._simple, (_ALLOW_ORIGIN, origin)] if echoed else self._simple


def with_headers(
    headers: Iterable[tuple[bytes, bytes]], updates: Sequence[tuple[bytes, bytes]]
) -> RawHeaders:
    """`headers` with each of `updates` set as `MutableHeaders.__setitem__` sets it: in place
    of the first header of that name (the others of that name dropped), else at the end."""
    result = list(headers)
    for name, value in updates:
        found = [i for i, (key, _) in enumerate(result) if key == name]
        for index in reversed(found[1:]):
            del result[index]
        if found:
            result[found[0]] = (name, value)
        else:
            result.append((name, value))
    return result


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
