"""Shared live pushes through a real server: one execution and encoding per update and distinct
subscription (schema/shared_events.py) must look, to each client, exactly like its own.

Writes end with a sentinel bar every client follows (see test_live_bars.py): once it has
arrived, everything written before it has been delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from starlette.applications import Starlette
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import Operation
from websockets.exceptions import ConnectionClosed

from domain.access import Scope
from gateway.app import create_app
from storage import api_keys
from storage.bars_write import BarIn, upsert_bars
from tests.support.databases import Database
from tests.support.live_client import BARS, LiveClient, live_client
from tests.support.live_server import gateway_settings

T0 = datetime(2024, 5, 6, 13, 30, tzinfo=UTC)
SENTINEL = "X:ENDUSD"
CLOSES_ONLY = """
subscription Live($tickers: [String!]!, $timeframe: Timeframe!, $since: DateTime) {
  bars(tickers: $tickers, timeframe: $timeframe, since: $since) { ticker close }
}
"""  # BARS's operation name and variables: only the selection tells them apart
MAYBE_VOLUME = """
subscription Live($tickers: [String!]!, $timeframe: Timeframe!, $since: DateTime,
                  $volume: Boolean!) {
  bars(tickers: $tickers, timeframe: $timeframe, since: $since) {
    ticker close volume @include(if: $volume)
  }
}
"""


@pytest.fixture
def app(portable_db: Database) -> Starlette:
    return create_app(gateway_settings(portable_db.url, max_subscriptions_per_key=50))


async def subscribe(
    client: LiveClient, id_: str, tickers: list[str], query: str = BARS, **extra: Any
) -> dict[str, Any]:
    """Subscribe with `query`; the first message (the empty replay)."""
    variables = {"tickers": tickers, "timeframe": "M1", "since": None, **extra}
    payload = {"query": query, "variables": variables}
    await client.send({"id": id_, "type": "subscribe", "payload": payload})
    return await client.receive()


async def raw_until_sentinel(client: LiveClient) -> list[dict[str, Any]]:
    """Every `next` message, as sent, up to the one carrying the sentinel."""
    messages: list[dict[str, Any]] = []
    while True:
        message = await client.receive()
        assert message["type"] == "next", message
        messages.append(message)
        if any(bar["ticker"] == SENTINEL for bar in message["payload"]["data"]["bars"]):
            return messages


async def write(database: Database, ticker: str, minutes: range, close: float = 1.5) -> None:
    bars = [BarIn(ticker, T0 + timedelta(minutes=m), 1, 2, 0.5, close + m, m + 1) for m in minutes]
    await upsert_bars(database.pool, "1m", bars, database.backend)


def bars_in(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [b for m in messages for b in m["payload"]["data"]["bars"] if b["ticker"] != SENTINEL]


async def test_subscribers_share_payloads_only_with_the_same_document_and_variables(
    portable_db: Database, origin: str, key: str
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        _, admin = await api_keys.create_key(portable_db.pool, "shared-admin", [Scope.ADMIN])
        clients: list[LiveClient] = []
        for raw_key in [key] * 9 + [admin]:
            client = await stack.enter_async_context(live_client(origin))
            assert (await client.init({"X-API-Key": raw_key}))["type"] == "connection_ack"
            clients.append(client)
        same, closes, other, admin_client = clients[:5], clients[5], clients[6], clients[9]
        with_volume, without_volume = clients[7], clients[8]
        for n, client in enumerate(same):  # each its own subscription id
            assert (await subscribe(client, f"s{n}", ["AAPL", SENTINEL]))["type"] == "next"
        await subscribe(closes, "c", ["AAPL", SENTINEL], CLOSES_ONLY)
        await subscribe(other, "o", ["MSFT", SENTINEL])
        await subscribe(with_volume, "v", ["AAPL", SENTINEL], MAYBE_VOLUME, volume=True)
        await subscribe(without_volume, "v", ["AAPL", SENTINEL], MAYBE_VOLUME, volume=False)
        await subscribe(admin_client, "a", ["AAPL", SENTINEL])  # another key, same payloads

        for minutes in (range(3), range(3, 6), range(6, 9)):  # three writes of AAPL
            await write(portable_db, "AAPL", minutes)
        await write(portable_db, "MSFT", range(2), close=100)
        await write(portable_db, "AAPL", range(1, 2), close=50)  # a correction of minute 1
        await write(portable_db, SENTINEL, range(1))

        received = [await raw_until_sentinel(client) for client in same]
        expected_times = [*(T0 + timedelta(minutes=m) for m in range(9)), T0 + timedelta(minutes=1)]
        first = received[0]
        assert [b["time"] for b in bars_in(first)] == [
            t.isoformat().replace("+00:00", "Z") for t in expected_times
        ]
        assert bars_in(first)[-1]["close"] == 51  # the correction, last and in full
        for n, messages in enumerate(received):  # identical payloads, each under its own id
            assert [m["id"] for m in messages] == [f"s{n}"] * len(first)
            assert [m["payload"] for m in messages] == [m["payload"] for m in first]
        admin_messages = await raw_until_sentinel(admin_client)
        assert [m["payload"] for m in admin_messages] == [m["payload"] for m in first]

        # another document: its own shape over the same bars
        closes_messages = await raw_until_sentinel(closes)
        assert {m["id"] for m in closes_messages} == {"c"}
        assert bars_in(closes_messages) == [
            {"ticker": b["ticker"], "close": b["close"]} for b in bars_in(first)
        ]
        # the same document with other variables: each its own result
        assert bars_in(await raw_until_sentinel(with_volume)) == [
            {"ticker": b["ticker"], "close": b["close"], "volume": b["volume"]}
            for b in bars_in(first)
        ]
        assert bars_in(await raw_until_sentinel(without_volume)) == bars_in(closes_messages)
        # other tickers: only their own bars
        other_bars = bars_in(await raw_until_sentinel(other))
        assert [(b["ticker"], b["close"]) for b in other_bars] == [("MSFT", 100), ("MSFT", 101)]


async def test_a_refused_client_never_receives_the_payloads_of_others(
    portable_db: Database, origin: str, key: str
) -> None:
    _, scopeless = await api_keys.create_key(portable_db.pool, "no-read", [Scope.READ])
    await portable_db.pool.execute("UPDATE api_keys SET scopes = '{}' WHERE name = 'no-read'")
    async with (
        live_client(origin) as reader,
        live_client(origin) as refused,
        live_client(origin) as uninitialised,
    ):
        assert (await reader.init({"X-API-Key": key}))["type"] == "connection_ack"
        await subscribe(reader, "1", ["AAPL", SENTINEL])
        await refused.send({"type": "connection_init", "payload": {"X-API-Key": scopeless}})
        payload = {"query": BARS, "variables": {"tickers": ["AAPL", SENTINEL]}}
        await refused.send({"id": "1", "type": "subscribe", "payload": payload})
        await uninitialised.send({"id": "1", "type": "subscribe", "payload": payload})
        await write(portable_db, "AAPL", range(3))
        await write(portable_db, SENTINEL, range(1))
        assert len(bars_in(await raw_until_sentinel(reader))) == 3
        for client, code in ((refused, 4403), (uninitialised, 4401)):
            seen: list[bytes | str] = []
            with contextlib.suppress(ConnectionClosed):
                async with asyncio.timeout(30):
                    while True:
                        seen.append(await client.socket.recv())
            assert client.socket.close_code == code
            assert not [m for m in seen if orjson.loads(m).get("type") == "next"], seen


async def test_subscribers_behind_the_first_skip_their_own_execution(
    portable_db: Database, origin: str, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The direct lane: of N subscribers of one subscription, one executes each update (each
    one's replay goes through its own pipeline too); the rest get the shared encoding. The
    server runs in this process, so its pipeline's sends can be counted."""
    pipeline: Counter[str] = Counter()
    send_next = Operation.send_next

    async def counted(self: Operation[Any, Any], result: Any) -> None:
        pipeline[self.id] += 1
        await send_next(self, result)

    monkeypatch.setattr(Operation, "send_next", counted)
    async with contextlib.AsyncExitStack() as stack:
        clients: list[LiveClient] = []
        for n in range(5):
            client = await stack.enter_async_context(live_client(origin))
            assert (await client.init({"X-API-Key": key}))["type"] == "connection_ack"
            await subscribe(client, f"s{n}", ["AAPL", SENTINEL])
            clients.append(client)
        writes = 8
        for minute in range(writes):
            await write(portable_db, "AAPL", range(minute, minute + 1))
        await write(portable_db, SENTINEL, range(1))
        for client in clients:
            assert len(bars_in(await raw_until_sentinel(client))) == writes
    # the replays, and one execution per update (the leader's), of 5 * (writes + 2) messages
    assert sum(pipeline.values()) <= 5 + writes + 1, pipeline
