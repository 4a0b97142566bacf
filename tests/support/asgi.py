"""Driving an ASGI app without an HTTP client, and putting the logging configuration back."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Iterator

from starlette.types import ASGIApp, Message, Receive, Scope


async def asgi_get(
    app: ASGIApp,
    path: str,
    query: str,
    client: str,
    headers: Collection[tuple[bytes, bytes]] = (),
) -> list[Message]:
    """One GET straight through the ASGI interface (no HTTP client limits the URL's length);
    the messages the app sent."""
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
        "query_string": query.encode(), "headers": [(b"host", b"gw"), *headers],
        "client": (client, 1), "server": ("gw", 80),
    }  # fmt: skip
    return await asgi_call(app, scope)


async def asgi_call(app: ASGIApp, scope: Scope, receive: Receive | None = None) -> list[Message]:
    """`scope` through the ASGI interface, its body from `receive` (default: an empty body);
    the messages sent."""
    sent: list[Message] = []

    async def empty_body() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive or empty_body, send)
    return sent


@contextlib.contextmanager
def logging_restored(names: Collection[str]) -> Iterator[None]:
    """Put back each named logger's level, handlers, propagation and filters afterwards
    (`configure_logging` changes them all)."""
    saved = {
        name: (lg.level, lg.handlers[:], lg.propagate, lg.filters[:])
        for name in names
        for lg in [logging.getLogger(name)]
    }
    try:
        yield
    finally:
        for name, (level, handlers, propagate, filters) in saved.items():
            lg = logging.getLogger(name)
            lg.setLevel(level)
            lg.handlers[:], lg.propagate, lg.filters[:] = handlers, propagate, filters
