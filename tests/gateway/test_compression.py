"""Gzip: big answers compressed for clients that accept it, every answer as it is for others."""

from __future__ import annotations

import gzip

import pytest
from starlette.types import Receive, Scope, Send

from gateway.compression import GzipWhenAccepted
from tests.support.asgi import asgi_get

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
