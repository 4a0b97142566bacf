"""The server marks a request body that has arrived whole (`WHOLE_BODY`), over real sockets to
uvicorn with the protocol `marketgraph serve` runs; the body limit trusts the mark only within
its limit.

The mark lets the body limit skip its deadline and its wrappers for the usual small POST. It
must never claim a body is whole while the app may still wait for part of it.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from starlette.types import Message, Receive, Scope, Send

from gateway.body_limit import BodyLimitMiddleware
from gateway.http_protocol import WHOLE_BODY, HeadDeadlineHttpToolsProtocol
from tests.support.asgi import asgi_call
from tests.support.live_server import serve_in_thread

BOUND = 30.0  # seconds a socket waits for the server; no assertion is timed
started = threading.Event()


async def report(scope: Scope, receive: Receive, send: Send) -> None:
    """Answers the mark it found when it started, and how many body bytes it then read (a
    websocket is accepted and closed)."""
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close"})
        return
    mark = scope.get(WHOLE_BODY)
    started.set()
    read, more = 0, True
    while more:
        message = await receive()
        read += len(message.get("body", b""))
        more = message.get("more_body", False)
    body = json.dumps({"mark": mark, "read": read}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", str(len(body)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def origin() -> Iterator[tuple[str, int]]:
    with serve_in_thread(report, http=HeadDeadlineHttpToolsProtocol) as url:
        parts = urlsplit(url)
        yield parts.hostname or "", parts.port or 80


def answers(sock: socket.socket, count: int) -> list[dict[str, object]]:
    """The JSON bodies of the next `count` responses on `sock`."""
    buffer, found = b"", list[dict[str, object]]()
    while len(found) < count:
        head_end = buffer.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buffer[:head_end].decode().lower()
            length = int(head.split("content-length:")[1].split("\r\n")[0])
            if len(buffer) >= head_end + 4 + length:
                found.append(json.loads(buffer[head_end + 4 : head_end + 4 + length]))
                buffer = buffer[head_end + 4 + length :]
                continue
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection"
        buffer += chunk
    return found


def post(body: bytes, extra: bytes = b"") -> bytes:
    return b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: %d\r\n%s\r\n%s" % (
        len(body), extra, body,
    )  # fmt: skip


def test_a_body_sent_with_its_head_is_marked_with_its_size(origin: tuple[str, int]) -> None:
    with socket.create_connection(origin, timeout=BOUND) as sock:
        sock.sendall(post(b'{"query": "{ __typename }"}'))
        assert answers(sock, 1) == [{"mark": 27, "read": 27}]


def test_a_get_is_marked_with_an_empty_body(origin: tuple[str, int]) -> None:
    with socket.create_connection(origin, timeout=BOUND) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: t\r\n\r\n")
        assert answers(sock, 1) == [{"mark": 0, "read": 0}]


def test_a_body_still_on_its_way_when_the_app_starts_is_not_marked(
    origin: tuple[str, int],
) -> None:
    started.clear()
    with socket.create_connection(origin, timeout=BOUND) as sock:
        sock.sendall(post(b"0123456789")[:-6])  # the head and 4 of the 10 bytes
        assert started.wait(BOUND)
        sock.sendall(b"456789")
        assert answers(sock, 1) == [{"mark": None, "read": 10}]


def test_a_chunked_body_is_marked_with_its_decoded_size(origin: tuple[str, int]) -> None:
    chunked = b"POST / HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
    chunked += b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    with socket.create_connection(origin, timeout=BOUND) as sock:
        sock.sendall(chunked)
        assert answers(sock, 1) == [{"mark": 11, "read": 11}]


def test_pipelined_requests_are_each_marked_with_their_own_body(
    origin: tuple[str, int],
) -> None:
    with socket.create_connection(origin, timeout=BOUND) as sock:
        sock.sendall(post(b"abc") + post(b"defghij") + post(b""))
        assert answers(sock, 3) == [
            {"mark": 3, "read": 3}, {"mark": 7, "read": 7}, {"mark": 0, "read": 0},
        ]  # fmt: skip


def test_a_websocket_upgrade_opening_a_connection_is_still_switched(
    origin: tuple[str, int],
) -> None:
    """The mark is made for HTTP requests only: an upgrade has no request cycle to mark."""
    handshake = b"GET / HTTP/1.1\r\nHost: t\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    handshake += b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    with socket.create_connection(origin, timeout=BOUND) as sock:
        sock.sendall(handshake)
        assert sock.recv(4096).startswith(b"HTTP/1.1 101 Switching Protocols\r\n")


@pytest.mark.parametrize(("size", "status"), [(100, 200), (101, 413)])
async def test_a_whole_body_is_still_held_to_the_limit(size: int, status: int) -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b"x" * size, "more_body": False}

    app = BodyLimitMiddleware(report, max_bytes=100)
    scope = {"type": "http", "method": "POST", "path": "/", "headers": [], WHOLE_BODY: size}
    sent = await asgi_call(app, scope, receive)
    assert sent[0]["status"] == status
