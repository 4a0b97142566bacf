"""uvicorn's HTTP protocols with a deadline for each request head.

uvicorn closes an idle keep-alive connection after `timeout_keep_alive` seconds, but forgets
the timer at the first byte of a request and never starts one on a new connection: a client
that connects and sends its headers a byte at a time holds a descriptor for as long as it
likes (200 such clients held 200 descriptors). Here the same timer runs from the moment a
connection opens (or its previous response ends) until a complete request head has arrived,
so a connection is closed unless it delivers a whole head within `timeout_keep_alive` seconds.
Bodies have their own deadline in the app (gateway/body_limit.py). A body that has arrived
whole is marked in the scope with its size (`WHOLE_BODY`): an app that finds the mark before it
reads (the usual small POST, whose body comes in the same packets as its head) needs neither a
deadline nor a count for it.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

Protocol = H11Protocol | HttpToolsProtocol
WHOLE_BODY = "marketgraph.whole_body"
"""Scope key: the size of the request body, set once all of it has arrived (an app that finds
it when it starts knows the body is already whole)."""


def _arm(protocol: Protocol) -> None:
    """Start the deadline (uvicorn's keep-alive timer) on a new connection."""
    protocol.timeout_keep_alive_task = protocol.loop.call_later(
        protocol.timeout_keep_alive, protocol.timeout_keep_alive_handler
    )


def _take(protocol: Protocol) -> asyncio.TimerHandle | None:
    """Take the timer away, so uvicorn does not cancel it at the first byte of a request."""
    deadline, protocol.timeout_keep_alive_task = protocol.timeout_keep_alive_task, None
    return deadline


def _settle(protocol: Protocol, deadline: asyncio.TimerHandle | None, waiting: bool) -> None:
    """Give the deadline back while a head is still due; drop it once the head is in."""
    if deadline is None:
        return
    if protocol.timeout_keep_alive_task is None and waiting:
        protocol.timeout_keep_alive_task = deadline
    else:
        deadline.cancel()


class HeadDeadlineH11Protocol(H11Protocol):
    """h11 (pure Python) with the head deadline."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _arm(self)

    def data_received(self, data: bytes) -> None:
        deadline = _take(self)
        super().data_received(data)
        waiting = self.conn.their_state is h11.IDLE and not self.transport.is_closing()
        _settle(self, deadline, waiting)


class HeadDeadlineHttpToolsProtocol(HttpToolsProtocol):
    """httptools (uvicorn's default when installed) with the head deadline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_complete = False
        self._body_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        _arm(self)

    def data_received(self, data: bytes) -> None:
        deadline = _take(self)
        super().data_received(data)
        _settle(self, deadline, not self._head_complete and not self.transport.is_closing())

    def on_message_begin(self) -> None:
        self._head_complete = False
        self._body_bytes = 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._head_complete = True
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        super().on_body(body)

    def on_message_complete(self) -> None:
        super().on_message_complete()
        cycle = self.cycle  # None when a connection opens with an upgrade (a websocket)
        if cycle is not None and not cycle.more_body:  # uvicorn took the end of the body
            cycle.scope[WHOLE_BODY] = self._body_bytes  # type: ignore[literal-required]

    def on_response_complete(self) -> None:
        self._head_complete = False  # the next request's head is due now
        super().on_response_complete()
