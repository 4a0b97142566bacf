"""A request body must be complete within its deadline of the app first reading it.

Driven through BodyLimitMiddleware with a client whose body chunks arrive when the test says:
a body in time is read whole, whatever the app does meanwhile; one that is not complete by
its deadline gets a 408 with the API's JSON error, however its chunks are paced; and nobody
else's cancellation is ever taken for a slow body. The waits are the deadline's own (a tenth
of a second), not timed assertions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import Message, Receive, Scope, Send

from gateway.body_deadline import BodyDeadline
from gateway.body_limit import BodyLimitMiddleware
from tests.support.asgi import asgi_call

DEADLINE = 0.1
SCOPE = {"type": "http", "method": "POST", "path": "/", "headers": []}
Chunk = tuple[float, bytes, bool]  # seconds to wait before it arrives, body, more to come


def client(chunks: list[Chunk]) -> Receive:
    """A `receive` handing out `chunks` at their pace (a chunk with no delay is already here:
    taken without a turn of the event loop, as uvicorn hands a buffered body), then waiting
    for ever (no disconnect)."""
    queue = list(chunks)

    async def receive() -> Message:
        if not queue:
            await asyncio.Event().wait()
        delay, body, more = queue.pop(0)
        if delay:
            await asyncio.sleep(delay)
        return {"type": "http.request", "body": body, "more_body": more}

    return receive


def echo(before: float = 0.0, after: float = 0.0) -> Callable[..., Awaitable[None]]:
    """An app that waits `before` seconds, reads the whole body, waits `after`, echoes it."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await asyncio.sleep(before)
        body = await Request(scope, receive).body()
        await asyncio.sleep(after)
        await JSONResponse({"length": len(body)})(scope, receive, send)

    return app


async def answer(app: Callable[..., Awaitable[None]], chunks: list[Chunk]) -> tuple[int, object]:
    limited = BodyLimitMiddleware(app, max_bytes=1000, read_timeout=DEADLINE)
    sent = await asgi_call(limited, dict(SCOPE), client(chunks))
    return sent[0]["status"], orjson.loads(b"".join(m.get("body", b"") for m in sent[1:]))


async def test_a_body_complete_in_time_is_read_whole() -> None:
    chunks = [(0.0, b"ab", True), (DEADLINE / 4, b"cd", True), (DEADLINE / 4, b"e", False)]
    assert await answer(echo(), chunks) == (200, {"length": 5})


@pytest.mark.parametrize(
    "chunks",
    [
        [(0.0, b"ab", True)],  # the rest never comes
        [(DEADLINE * 0.6, b"ab", True), (DEADLINE * 0.6, b"cd", False)],  # each in time, not all
    ],
    ids=["stalled", "trickling"],
)
async def test_a_body_not_complete_by_its_deadline_gets_408(chunks: list[Chunk]) -> None:
    status, body = await answer(echo(), chunks)
    assert status == 408
    assert body == {
        "code": "BAD_USER_INPUT",
        "detail": "request body not received within 0.1 seconds",
    }


async def test_the_deadline_runs_from_the_first_read_not_from_the_request() -> None:
    """An app busy for longer than the deadline before it reads still gets the body."""
    assert await answer(echo(before=DEADLINE * 2), [(0.0, b"abc", False)]) == (200, {"length": 3})


async def test_a_body_already_here_when_the_deadline_passed_is_still_taken() -> None:
    """The deadline passes while the app does something else between two reads; the rest of
    the body has arrived by then, so the next read takes it, as asyncio.timeout would."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        first = await receive()
        await asyncio.sleep(DEADLINE * 2)
        second = await receive()
        await JSONResponse({"length": len(first["body"] + second["body"])})(scope, receive, send)

    chunks = [(0.0, b"ab", True), (0.0, b"cd", False)]
    assert await answer(app, chunks) == (200, {"length": 4})


async def test_past_the_deadline_a_read_that_would_wait_is_refused() -> None:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        await asyncio.sleep(DEADLINE * 2)
        await receive()  # the rest is not here: nothing more to wait for
        raise AssertionError("read past the deadline")

    assert (await answer(app, [(0.0, b"ab", True), (DEADLINE, b"cd", False)]))[0] == 408


async def test_once_the_body_is_complete_the_app_is_never_cut_off() -> None:
    assert await answer(echo(after=DEADLINE * 2), [(0.0, b"abc", False)]) == (200, {"length": 3})


async def test_a_cancellation_from_elsewhere_is_not_taken_for_a_slow_body() -> None:
    """A client that went away or a server shutting down cancels the request's task: that
    propagates as a cancellation, never as a 408 answer."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    limited = BodyLimitMiddleware(echo(), max_bytes=1000, read_timeout=DEADLINE * 10)
    task = asyncio.create_task(limited(dict(SCOPE), client([(0.0, b"ab", True)]), send))
    await asyncio.sleep(DEADLINE)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sent == []


async def test_an_outside_cancellation_at_the_deadline_still_propagates() -> None:
    """Both fire together: the request's own cancellation wins over the slow-body answer."""
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    limited = BodyLimitMiddleware(echo(), max_bytes=1000, read_timeout=DEADLINE)
    task = asyncio.create_task(limited(dict(SCOPE), client([(0.0, b"ab", True)]), send))
    asyncio.get_running_loop().call_later(DEADLINE, task.cancel)
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sent == []


async def test_a_cancelled_deadline_never_cuts_a_read_off() -> None:
    """The timer of a complete body is cancelled (not left to fire, 30 s later by default,
    once per request): a read after that waits as long as the client takes."""
    deadline = BodyDeadline(DEADLINE)
    deadline.cancel()
    message = await deadline.read(client([(DEADLINE * 2, b"late", False)]))
    assert message["body"] == b"late"
