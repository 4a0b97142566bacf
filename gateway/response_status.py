"""The status of the response an ASGI app sends, for middlewares that record it afterwards."""

from __future__ import annotations

from starlette.types import Message, Send


class ResponseStatus:
    """Wraps `send`; `code` is the status the app started its response with (500 until then,
    which is what a client sees when the app fails before answering)."""

    __slots__ = ("_send", "code")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.code = 500

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.code = message["status"]
        await self._send(message)
