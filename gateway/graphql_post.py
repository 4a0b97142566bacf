"""The common request, read without Strawberry's general request parsing: one JSON operation
POSTed as `application/json`.

Strawberry's view parses every request the general way (content type through `email.message`,
multipart, batches, streaming transports, the GraphiQL page): a sixth of a small query's time.
`plain_post` recognises the one shape dashboards and clients send and reads it directly; for
anything else — another method or content type, a streaming `Accept`, a batch, a body that
is not JSON or has fields of the wrong type — it answers the request to parse the stock way,
which also gives every refusal its usual answer: the same request, or one that hands out
again the body already read.

The body is read straight from `receive`: Starlette's `Request.body()` goes through an async
generator, 20,000 instructions for a body that is one message (a 1-bar query costs 900,000).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive
from strawberry.http import GraphQLRequestData

JSON = "application/json"
_HEADERS = frozenset({b"content-type", b"accept"})
_PLAIN_ACCEPTS = frozenset({"", "*/*", JSON, "application/graphql-response+json"})
_OPTIONAL_TYPES: Mapping[str, type] = {"query": str, "variables": dict, "extensions": dict}
Streams = Callable[[Mapping[str, str]], object]
"""The view's streaming transport for a request's headers (None: one plain JSON answer)."""


async def plain_post(
    request: Request, decode: Callable[[bytes], object], streams: Streams
) -> GraphQLRequestData | Request:
    """The operation of a plain JSON POST, or the request to parse the stock way (`decode`
    reads JSON, raising on anything else)."""
    if request.method != "POST":
        return request
    headers: dict[str, str] = {}
    for name, value in request.scope["headers"]:  # the first of each counts, as in Starlette
        if name in _HEADERS:
            headers.setdefault(name.decode(), value.decode("latin-1"))
    content_type = headers.get("content-type", "").partition(";")[0].strip().lower()
    if content_type != JSON or not plain_accept(headers.get("accept", ""), streams):
        return request
    body = await read_body(request.receive)  # a body refused while read (413, 408) propagates
    try:
        data = decode(body)
    except Exception:  # not JSON, or not an object: the stock way answers it
        return Request(request.scope, replaying(body, request.receive))
    if not isinstance(data, dict) or any(
        data.get(name) is not None and not isinstance(data[name], kind)
        for name, kind in _OPTIONAL_TYPES.items()
    ):
        return Request(request.scope, replaying(body, request.receive))
    return GraphQLRequestData(
        query=data.get("query"),
        variables=data.get("variables"),
        operation_name=data.get("operationName"),
        extensions=data.get("extensions"),
        protocol="http",
    )


def plain_accept(accept: str, streams: Streams) -> bool:
    """Whether an `Accept` header's value asks for one JSON answer (no streaming transport
    of the view's, `streams`, takes it)."""
    return accept in _PLAIN_ACCEPTS or streams({"accept": accept}) is None


async def read_body(receive: Receive) -> bytes:
    """The whole body, as Starlette's `Request.body()` reads it (ClientDisconnect when the
    client goes away first)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                return b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise ClientDisconnect


def replaying(body: bytes, receive: Receive) -> Receive:
    """`receive` for a request whose `body` was read already: the body first, then `receive`."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay
