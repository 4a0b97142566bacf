"""The live stream's replay hand-over, made deterministic: the hub's feed is driven by hand.

A write that commits before the replay's snapshot but whose notification reaches the hub
after the subscriber registered is the race `since` must survive: the replay already holds
those bars, so the live update must not repeat them, while bars before `since` (which the
replay did not cover) still go out.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg

from domain.access import Principal, Scope
from domain.timeframes import Timeframe
from resolvers.context import Services, make_context
from resolvers.live import Message, live_bars
from resolvers.live_hub import LiveHub, Update
from storage.bars_write import BarIn, upsert_bars
from storage.notify import CHANNEL, decode
from tests.support.databases import Database

T0 = datetime(2024, 5, 6, 13, 30, tzinfo=UTC)
MINUTE = timedelta(minutes=1)
READER = Principal(key_id=1, name="reader", scopes=frozenset({Scope.READ}))


async def bars(stream: AsyncIterator[Message]) -> list[asyncpg.Record]:
    """The next message, which must be bars (not an error): shared or the subscriber's own."""
    message = await anext(stream)
    assert isinstance(message, list | Update), message
    return list(message)


def bar(minutes: int, close: float = 1.5) -> BarIn:
    return BarIn("AAPL", T0 + minutes * MINUTE, 1, 2, 0.5, close, 10)


async def test_a_late_notification_of_a_replayed_write_repeats_nothing(
    portable_db: Database,
) -> None:
    hub = LiveHub(portable_db.pool, queue_size=10, max_per_key=5)
    services = Services(portable_db.pool, portable_db.backend, None, 1000, False, live=hub)
    listener = await asyncpg.connect(portable_db.url)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(CHANNEL, lambda *args: heard.put_nowait(args[3]))
    runner = asyncio.create_task(hub.run())
    try:
        stream = await live_bars(make_context(services, READER), ["AAPL"], Timeframe.M1, T0)
        # registered; now a write commits before the replay reads, its notice held back
        await upsert_bars(portable_db.pool, "1m", [bar(-1), bar(0), bar(1)], portable_db.backend)
        replay = await bars(stream)
        assert [r["time"] for r in replay] == [T0, T0 + MINUTE]
        await listener.execute("SELECT 1")
        late = decode(heard.get_nowait())
        assert late is not None
        hub.publish(late)  # arrives after the replay: only the bar before `since` is new
        assert [r["time"] for r in await bars(stream)] == [T0 - MINUTE]
        await upsert_bars(portable_db.pool, "1m", [bar(1, close=1.75)], portable_db.backend)
        await listener.execute("SELECT 1")
        later = decode(heard.get_nowait())
        assert later is not None
        hub.publish(later)  # written after the replay's snapshot: pushed
        (changed,) = await bars(stream)
        assert (changed["time"], changed["close"]) == (T0 + MINUTE, 1.75)
        # a notification served by an earlier read (the read already saw its write) is
        # pushed once: publishing `later` again adds nothing before the next change
        hub.publish(later)
        await upsert_bars(portable_db.pool, "1m", [bar(2)], portable_db.backend)
        await listener.execute("SELECT 1")
        last = decode(heard.get_nowait())
        assert last is not None
        hub.publish(last)
        assert [r["time"] for r in await bars(stream)] == [T0 + 2 * MINUTE]
        await stream.aclose()  # type: ignore[attr-defined]  # an async generator
        assert hub.subscribers == 0
    finally:
        runner.cancel()
        await listener.close()
