"""A live update is executed once per distinct (document, variables, scopes), not per subscriber.

The hub is fed by hand (as in test_live.py) and the schema driven in process, so what is
shared can be seen directly: subscribers whose results may be the same get the very same
data object (encoded once by the websocket handler); any difference gets its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import UTC, datetime
from typing import Any

import asyncpg

from domain.access import Principal, Scope
from resolvers.context import Services, make_context
from resolvers.live_hub import LiveHub
from schema import build_schema
from schema.shared_events import SharedData
from storage.bars_write import BarIn, upsert_bars
from storage.notify import CHANNEL, decode
from tests.support.databases import Database

T0 = datetime(2024, 5, 6, 13, 30, tzinfo=UTC)
READER = Principal(key_id=1, name="reader", scopes=frozenset({Scope.READ}))
ADMIN = Principal(key_id=2, name="admin", scopes=frozenset({Scope.ADMIN}))
MAYBE_VOLUME = """
subscription S($t: [String!]!, $v: Boolean!) { bars(tickers: $t) { close volume @include(if: $v) } }
"""
OTHER_TEXT = (
    "subscription S($t: [String!]!, $v: Boolean!) { bars(tickers: $t) { close @skip(if: $v) } }"
)


async def test_an_update_is_executed_once_per_document_variables_and_scopes(
    portable_db: Database,
) -> None:
    hub = LiveHub(portable_db.pool, queue_size=10, max_per_key=50)
    services = Services(portable_db.pool, portable_db.backend, None, 1000, False, live=hub)
    schema = build_schema()
    listener = await asyncpg.connect(portable_db.url)
    heard: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(CHANNEL, lambda *args: heard.put_nowait(args[3]))
    runner = asyncio.create_task(hub.run())
    subscriptions: list[tuple[str, dict[str, Any], Principal]] = [
        *[(MAYBE_VOLUME, {"t": ["AAPL"], "v": True}, READER)] * 3,
        (MAYBE_VOLUME, {"t": ["AAPL"], "v": False}, READER),  # other variables
        (OTHER_TEXT, {"t": ["AAPL"], "v": False}, READER),  # another document
        (MAYBE_VOLUME, {"t": ["AAPL"], "v": True}, ADMIN),  # other scopes
        (MAYBE_VOLUME, {"t": ["MSFT", "AAPL"], "v": True}, READER),  # other tickers
    ]
    streams: list[AsyncGenerator[Any, None]] = []
    try:
        for query, variables, principal in subscriptions:
            context = make_context(services, principal)
            stream = await schema.subscribe(query, variables, context_value=context)
            assert not isinstance(stream, Exception)
            streams.append(stream)
            assert (await anext(streams[-1])).data == {"bars": []}  # registered: live from here
        bar = BarIn("AAPL", T0, 1, 2, 0.5, 1.5, 10)
        await upsert_bars(portable_db.pool, "1m", [bar], portable_db.backend)
        await listener.execute("SELECT 1")
        event = decode(await heard.get())
        assert event is not None
        hub.publish(event)
        results = [await anext(stream) for stream in streams]
        assert [r.errors for r in results] == [None] * len(results)
        data = [r.data for r in results]
        full, closes = {"bars": [{"close": 1.5, "volume": 10.0}]}, {"bars": [{"close": 1.5}]}
        assert data == [full, full, full, closes, closes, full, full]
        assert isinstance(data[0], SharedData)
        assert data[0] is data[1] is data[2]  # executed once, encoded once
        for other in data[3:]:
            assert other is not data[0]
    finally:
        for stream in streams:
            await stream.aclose()
        runner.cancel()
        await listener.close()
