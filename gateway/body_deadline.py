"""One timer for a whole request body, not one `asyncio.timeout` per `receive`.

`asyncio.timeout_at` around each `receive()` made a Timeout object, a timer and two context
manager calls for every request, though a small body is usually complete before the app
first asks for it: 27,000 instructions of a 1-bar query's 900,000 (callgrind). Here one timer
is armed at the first read and cancelled once the body is complete. When it fires during a
read, the reading task is cancelled, and that cancellation (ours alone: an outside one still
propagates) becomes BodyTooSlow. When it fires while the app does something else, nothing is
interrupted: the next read is given what asyncio.timeout gives a deadline already past, one
turn of the event loop, so a body that has arrived by then is still taken.
"""

from __future__ import annotations

import asyncio

from starlette.types import Message, Receive


class BodyTooSlow(Exception):
    """Raised by a read when the body is not complete by its deadline."""


class BodyDeadline:
    """The deadline of one request body, `seconds` from when it is made."""

    __slots__ = ("_expired", "_handle", "_loop", "_reader")

    def __init__(self, seconds: float) -> None:
        self._loop = asyncio.get_running_loop()
        self._expired = False
        self._reader: asyncio.Task[object] | None = None  # the task inside a read, if any
        self._handle: asyncio.Handle = self._loop.call_later(seconds, self._expire)

    def _expire(self) -> None:
        self._expired = True
        if self._reader is not None:
            self._reader.cancel()

    async def read(self, receive: Receive) -> Message:
        """`receive()`, cut off at the deadline (BodyTooSlow)."""
        task = asyncio.current_task()
        if task is None:  # not in a task: nothing to cancel, so no deadline
            return await receive()
        if self._expired:  # past the deadline: one more turn, as asyncio.timeout gives it
            self._handle = self._loop.call_soon(self._expire)
        cancelling = task.cancelling()
        self._reader = task
        try:
            return await receive()
        except asyncio.CancelledError:
            if self._expired and task.uncancel() <= cancelling:
                raise BodyTooSlow from None
            raise
        finally:
            self._reader = None

    def cancel(self) -> None:
        """The body is complete (or no longer read): the timer goes."""
        self._handle.cancel()
