"""Access lines written once per turn of the event loop, not once per request.

A busy worker answers several requests in one turn of its loop. Written and flushed one by
one, each access line cost a system call: about a sixth of a 1-bar request's CPU when stderr
was a file, more than what the floor spends on the whole request's SQL. Lines wait only until
the callbacks already due have run (`call_soon`), so a reader sees them within the same turn.
Another record logged in that turn (a warning) may be written before them.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

StreamHandler = logging.StreamHandler[Any]


class LineBatch:
    """Formatted lines bound for one stream handler, written together at the end of the turn
    (at once when no event loop runs). A stream that fails loses the turn's lines and says so
    through the handler's `handleError`, as a failed `emit` would: the requests never notice."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._handler: StreamHandler | None = None

    def add(self, handler: StreamHandler, line: str) -> None:
        if self._lines and handler is not self._handler:
            self.flush()  # logging was reconfigured within the turn: keep each line's stream
        if not self._lines:
            try:
                asyncio.get_running_loop().call_soon(self.flush)
            except RuntimeError:
                _write(handler, [line])
                return
            self._handler = handler
        self._lines.append(line)

    def flush(self) -> None:
        lines, self._lines = self._lines, []
        handler = self._handler
        if lines and handler is not None:
            _write(handler, lines)


def _write(handler: StreamHandler, lines: list[str]) -> None:
    """What `StreamHandler.emit` does with formatted lines: written and flushed, or the
    failure reported as `emit` reports it."""
    terminator = handler.terminator
    try:
        handler.acquire()
        try:
            handler.stream.write(terminator.join(lines) + terminator)
            handler.stream.flush()
        finally:
            handler.release()
    except Exception:
        lost = logging.makeLogRecord({"msg": "%d access lines lost", "args": (len(lines),)})
        handler.handleError(lost)
