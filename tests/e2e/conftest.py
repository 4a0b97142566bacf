"""Fixtures shared by end-to-end tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from domain.access import Scope
from domain.timeframes import Timeframe
from storage import api_keys
from storage.bars_write import BarIn, upsert_bars
from storage.features import RollupBackend
from tests.support.databases import Database, Server, Template, cloned_database
from tests.support.live_server import serve_in_thread


@pytest_asyncio.fixture(loop_scope="session")
async def fetching_client(portable_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client sending a key with the `fetch` scope, made in `portable_db`."""
    _, key = await api_keys.create_key(portable_db.pool, "fetcher", [Scope.FETCH])
    async with httpx.AsyncClient(timeout=60, headers={"X-API-Key": key}) as http:
        yield http


@pytest.fixture
def origin(app: Starlette) -> Iterator[str]:
    """The module's `app` on a real port (websocket clients need one), lifespan included."""
    with serve_in_thread(app, lifespan="on") as url:
        yield url


@pytest_asyncio.fixture(loop_scope="session")
async def key(portable_db: Database) -> str:
    """A key with the `read` scope, made in `portable_db`."""
    _, raw = await api_keys.create_key(portable_db.pool, "reader", [Scope.READ])
    return raw


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def lane_db(
    server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    """Minute bars of AAPL and X:BTCUSD (every 7th of quality 0.5), AAPL's weekdays from
    2024-01-02 (every 3rd of quality 0.5): the lanes' tests send both ways against these."""
    async with cloned_database(server, templates) as database:
        start = datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
        minutes = [
            BarIn(s, start + timedelta(minutes=i), 10 + i, 11 + i, 9 + i, 10.5 + i, 100.0 * i,
                  quality_score=0.5 if i % 7 == 0 else 1.0)
            for s in ("AAPL", "X:BTCUSD")
            for i in range(90)
        ]  # fmt: skip
        first_day = datetime(2024, 1, 2, 5, tzinfo=UTC)
        days = [
            BarIn("AAPL", first_day + timedelta(days=i), 1, 2, 0.5, 1.5, 9,
                  quality_score=0.5 if i % 3 == 0 else 1.0)
            for i in range(40)
            if (date(2024, 1, 2) + timedelta(days=i)).weekday() < 5
        ]  # fmt: skip
        await upsert_bars(database.pool, Timeframe.M1, minutes, database.backend)
        await upsert_bars(database.pool, Timeframe.D1, days, database.backend)
        yield database
