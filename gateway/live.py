"""The process's live-bars machinery: one listener feeding one hub, for the app's lifetime.

The same notifications keep the response cache honest across processes: every worker and
instance drops its cached answers for the tickers another one just stored (and all of them when
the feed was interrupted, since notifications sent meanwhile are lost).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from gateway.database import OpenDatabase
from gateway.response_cache import ResponseCache
from gateway.settings import Settings
from resolvers.live_hub import LiveHub
from storage.listener import Listener
from storage.notify import BarsWritten


@contextlib.asynccontextmanager
async def running_live(
    settings: Settings, database: OpenDatabase, cache: ResponseCache | None = None
) -> AsyncIterator[tuple[LiveHub, Listener]]:
    """Start the fan-out task and the LISTEN connection; stop both on exit."""
    hub = LiveHub(
        database.pool,
        queue_size=settings.subscription_queue_size,
        max_per_key=settings.max_subscriptions_per_key,
    )

    def written(event: BarsWritten) -> None:
        hub.publish(event)
        if cache is not None:
            for ticker in event.runs:
                cache.invalidate(ticker)

    def lost() -> None:
        hub.interrupted()
        if cache is not None:
            cache.clear()

    listener = Listener(database.url, written, lost)
    tasks = [asyncio.create_task(hub.run()), asyncio.create_task(listener.run())]
    try:
        yield hub, listener
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
