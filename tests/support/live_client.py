"""A `graphql-transport-ws` client over a real websocket, for tests of live subscriptions."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

PROTOCOL = "graphql-transport-ws"
BARS = """
subscription Live($tickers: [String!]!, $timeframe: Timeframe!, $since: DateTime) {
  bars(tickers: $tickers, timeframe: $timeframe, since: $since) {
    ticker time open high low close volume
  }
}
"""


class LiveClient:
    """One connection: `init`, `subscribe`, then `receive` messages (pings answered)."""

    def __init__(self, socket: ClientConnection) -> None:
        self.socket = socket

    async def send(self, message: dict[str, Any]) -> None:
        await self.socket.send(orjson.dumps(message).decode())

    async def receive(self, within: float = 30) -> dict[str, Any]:
        """The next message other than a ping (answered with a pong)."""
        while True:
            raw = await asyncio.wait_for(self.socket.recv(), within)
            message: dict[str, Any] = orjson.loads(raw)
            if message["type"] == "ping":
                await self.send({"type": "pong"})
                continue
            return message

    async def init(self, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.send({"type": "connection_init", "payload": payload or {}})
        return await self.receive()

    async def subscribe(
        self, id_: str, tickers: list[str], timeframe: str = "M1", since: str | None = None
    ) -> dict[str, Any]:
        """Subscribe and return the first message (the replay, or an error)."""
        variables = {"tickers": tickers, "timeframe": timeframe, "since": since}
        await self.send(
            {"id": id_, "type": "subscribe", "payload": {"query": BARS, "variables": variables}}
        )
        return await self.receive()

    async def close_code(self, within: float = 30) -> int | None:
        """Read until the server closes (at most `within` seconds in all); its close code."""
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(within):
                while True:
                    await self.socket.recv()
        return self.socket.close_code


@contextlib.asynccontextmanager
async def live_client(
    origin: str, *, receive_buffer: int | None = None, **options: Any
) -> AsyncIterator[LiveClient]:
    """A websocket to `origin`/graphql; `receive_buffer` shrinks the socket's kernel buffer (set
    before connecting, so the window stays small) to make a client that stops reading stall
    the server soon."""
    url = origin.replace("http://", "ws://") + "/graphql"
    if receive_buffer is not None:
        host, port = origin.removeprefix("http://").split(":")
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        sock.connect((host, int(port)))
        options["sock"] = sock
    options.setdefault("subprotocols", [PROTOCOL])
    async with connect(url, **options) as socket_:
        yield LiveClient(socket_)


def bars_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    """The bars a `next` message carries (asserting it is one, without errors)."""
    assert message["type"] == "next", message
    assert "errors" not in message["payload"], message
    bars: list[dict[str, Any]] = message["payload"]["data"]["bars"]
    return bars
