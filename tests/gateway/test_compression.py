"""Gzip: big answers compressed for clients that accept it, every answer as it is for others."""

from __future__ import annotations

import asyncio
import gzip
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.middleware.gzip import GZipMiddleware
from starlette.types import Message, Receive, Scope, Send

from gateway.compression import GzipWhenAccepted
from tests.support.asgi import asgi_call, asgi_get

BIG = b'{"bars": [' + b'{"close": 143.21},' * 200 + b"]}"


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    body = BIG if scope["path"] == "/big" else b"{}"
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _get(path: str, accept: bytes | None) -> tuple[dict[bytes, bytes], bytes]:
    sent = await asgi_get(
        GzipWhenAccepted(app, minimum_size=1024, compresslevel=1),
        path,
        "",
        "127.0.0.1",
        [(b"accept-encoding", accept)] if accept is not None else [],
    )
    return dict(sent[0]["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


@pytest.mark.parametrize("accept", [b"gzip", b"deflate, gzip;q=0.5, br"])
async def test_big_answers_are_gzipped_for_clients_that_accept_it(accept: bytes) -> None:
    headers, body = await _get("/big", accept)
    assert headers[b"content-encoding"] == b"gzip" and gzip.decompress(body) == BIG
    assert int(headers[b"content-length"]) == len(body) < len(BIG) / 3
    assert headers[b"vary"] == b"Accept-Encoding"
    small_headers, small = await _get("/small", accept)
    assert b"content-encoding" not in small_headers and small == b"{}"


@pytest.mark.parametrize("accept", [None, b"identity", b"br"])
async def test_other_clients_get_every_answer_as_it_is(accept: bytes | None) -> None:
    headers, body = await _get("/big", accept)
    assert b"content-encoding" not in headers and body == BIG
    assert headers == {b"content-type": b"application/json", b"content-length": b"%d" % len(BIG)}


MINIMUM = 64
CONTENT_TYPES = [
    b"application/json",
    b"text/event-stream",
    b"image/png",
    b"text/html; charset=utf-8",
]
BODY_SIZES = st.sampled_from([0, 1, MINIMUM - 1, MINIMUM, MINIMUM + 1, 3000])
RESPONSES = st.fixed_dictionaries(
    {
        "hint": st.booleans(),
        "status": st.sampled_from([200, 206, 404]),
        "content_type": st.sampled_from([None, *CONTENT_TYPES]),
        "encoded": st.booleans(),
        "chunks": st.lists(BODY_SIZES, min_size=1, max_size=3),
    }
)


def _messages(response: dict[str, Any]) -> list[Message]:
    """The messages an app sends for `response` (fresh dicts: middleware edit them)."""
    headers = [(b"content-type", response["content_type"])] if response["content_type"] else []
    if response["encoded"]:
        headers.append((b"content-encoding", b"br"))
    sizes = response["chunks"]
    headers.append((b"content-length", b"%d" % sum(sizes)))
    messages: list[Message] = []
    if response["hint"]:
        messages.append({"type": "http.response.early_hint", "headers": [(b"link", b"</a>")]})
    messages.append({"type": "http.response.start", "status": response["status"],
                     "headers": headers})  # fmt: skip
    for number, size in enumerate(sizes):
        more = number < len(sizes) - 1
        body = b"ab" * (size // 2) + b"c" * (size % 2)
        messages.append({"type": "http.response.body", "body": body, "more_body": more})
    return messages


async def _through(middleware: type[GZipMiddleware], response: dict[str, Any]) -> list[Message]:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        for message in _messages(response):
            await send(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": "/",
        "headers": [(b"accept-encoding", b"gzip")],
    }
    return await asgi_call(middleware(app, minimum_size=MINIMUM, compresslevel=1), scope)


def _json(*chunks: int) -> dict[str, Any]:
    return {"hint": False, "status": 200, "content_type": b"application/json", "encoded": False,
            "chunks": list(chunks)}  # fmt: skip


@given(response=RESPONSES)
@example(response=_json(MINIMUM - 1))  # the largest answer sent as it is
@example(response=_json(MINIMUM))  # the smallest gzipped
@example(response=_json(1, MINIMUM))  # small, but streamed: gzipped
def test_gzip_clients_get_exactly_what_starlettes_middleware_sends(
    response: dict[str, Any],
) -> None:
    """Whatever the answer (small or big, whole or streamed, excluded types, already encoded,
    partial, with early hints), the same messages as Starlette's GZipMiddleware, byte for byte."""
    ours = asyncio.run(_through(GzipWhenAccepted, response))
    theirs = asyncio.run(_through(GZipMiddleware, response))
    assert ours == theirs
