"""The process's live-bars machinery: one listener feeding one hub, for the app's lifetime."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from gateway.database import OpenDatabase
from gateway.settings import Settings
from resolvers.live_hub import LiveHub
from storage.listener import Listener


@contextlib.asynccontextmanager
async def running_live(
    settings: Settings, database: OpenDatabase
) -> AsyncIterator[tuple[LiveHub, Listener]]:
    """Start the fan-out task and the LISTEN connection; stop both on exit."""
    hub = LiveHub(
        database.pool,
        queue_size=settings.subscription_queue_size,
        max_per_key=settings.max_subscriptions_per_key,
    )
    listener = Listener(database.url, hub.publish, hub.interrupted)
    tasks = [asyncio.create_task(hub.run()), asyncio.create_task(listener.run())]
    try:
        yield hub, listener
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
