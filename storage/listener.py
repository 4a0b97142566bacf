"""One LISTEN connection per process, kept alive across database restarts.

`Listener.run()` connects, listens on the bars channel and hands each decoded notification to
`on_event`. When the connection is lost (a restart, a terminated backend, a network cut: seen
by asyncpg's termination callback or a failed health check) it calls `on_lost` once, then
reconnects with growing pauses; notifications sent while it was away are not replayed by
PostgreSQL, which is why subscribers are told.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import asyncpg

from storage.notify import CHANNEL, BarsWritten, decode
from storage.unavailable import UNREACHABLE

log = logging.getLogger(__name__)

APPLICATION_NAME = "marketgraph-listen"
MIN_PAUSE = 0.1
_FAILED: tuple[type[BaseException], ...] = (*UNREACHABLE, asyncpg.PostgresError)
MAX_PAUSE = 5.0


class Listener:
    """Feeds `on_event` from LISTEN; `on_lost` when the feed was interrupted."""

    def __init__(
        self,
        dsn: str,
        on_event: Callable[[BarsWritten], None],
        on_lost: Callable[[], None],
        *,
        check_seconds: float = 5.0,
    ) -> None:
        self._dsn = dsn
        self._on_event = on_event
        self._on_lost = on_lost
        self._check_seconds = check_seconds
        self.connected = asyncio.Event()
        self.connections = 0  # how many times a LISTEN connection was established

    def _deliver(self, conn: object, pid: int, channel: str, payload: object) -> None:
        event = decode(str(payload))
        if event is not None:
            self._on_event(event)

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after every loss."""
        pause = MIN_PAUSE
        while True:
            try:
                conn = await asyncpg.connect(
                    self._dsn, server_settings={"application_name": APPLICATION_NAME}
                )
            except _FAILED as exc:
                log.warning("listener cannot connect; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(pause)
                pause = min(pause * 2, MAX_PAUSE)
                continue
            pause = MIN_PAUSE
            try:
                await self._listen(conn)
            finally:
                self.connected.clear()
                with contextlib.suppress(Exception):
                    await asyncio.shield(conn.close(timeout=1))
            log.warning("listener lost its database connection; reconnecting")
            self._on_lost()

    async def _listen(self, conn: asyncpg.Connection) -> None:
        """Return when the connection is gone (closed by the server or failing a check)."""
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _: lost.set())
        try:
            await conn.add_listener(CHANNEL, self._deliver)
        except UNREACHABLE:
            return
        self.connections += 1
        self.connected.set()
        log.info("listening for written bars", extra={"channel": CHANNEL})
        while not lost.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lost.wait(), self._check_seconds)
                return
            try:  # a cut network sends no termination: ask
                await conn.execute("SELECT 1", timeout=self._check_seconds)
            except _FAILED:
                return
