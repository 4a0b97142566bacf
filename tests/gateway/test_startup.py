"""Start-up fails cleanly: bad settings are refused when loaded, and whatever fails while the
app starts closes everything opened before it and reports its own error."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

import gateway.app
from coordination.link import RedisLink
from gateway.app import create_app
from gateway.settings import Settings
from storage.usage import UsageRecorder
from tests.support.databases import Database
from upstream.polygon import Observer, PolygonClient

BAD_URLS = ["ftp://api.polygon.io", "api.polygon.io", "https://", "http://[::1", "http://h:99999"]


@pytest.mark.parametrize("url", BAD_URLS)
def test_an_invalid_polygon_base_url_is_refused_when_settings_load(
    monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("POLYGON_BASE_URL", url)
    with pytest.raises(ValueError, match="polygon_base_url") as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert "absolute http(s) URL" in str(refused.value)


def _settings(db: Database, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": db.url,
        "timescaledb": "off",
        "db_pool_min_size": 3,
        "db_pool_max_size": 4,
        "polygon_api_key": "pk_test",
        "polygon_base_url": "http://127.0.0.1:9",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


async def _connections(db: Database) -> int:
    sql = "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
    return int(await db.pool.fetchval(sql))


async def _settles_at(db: Database, expected: int) -> int:
    """The connection count once closed connections' backends have gone (at most 10 s)."""
    for _ in range(200):
        count = await _connections(db)
        if count == expected:
            return count
        await asyncio.sleep(0.05)
    return count


@contextlib.asynccontextmanager
async def _started(settings: Settings) -> AsyncIterator[None]:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        yield


async def test_a_bad_base_url_that_got_past_settings_fails_with_its_own_error(
    portable_db: Database,
) -> None:
    """The reported bug: the client was made before `try`, leaking the pool, and `finally`
    then hid the cause behind an AttributeError."""
    before = await _connections(portable_db)
    settings = _settings(portable_db)
    settings.polygon_base_url = "ftp://not-http"  # assignment is not validated

    with pytest.raises(ValueError, match="base_url must be an absolute http"):
        async with _started(settings):
            pass

    assert await _settles_at(portable_db, before) == before  # the pool was closed


def _failing_init(self: UsageRecorder, *args: Any, **kwargs: Any) -> None:
    raise RuntimeError("usage recorder would not start")


@contextlib.asynccontextmanager
async def _failing_running(self: UsageRecorder, interval: float) -> AsyncIterator[UsageRecorder]:
    raise RuntimeError("usage recorder would not start")
    yield self


@pytest.mark.parametrize(
    ("attribute", "failure"),
    [("__init__", _failing_init), ("running", _failing_running)],
    ids=["made", "started"],
)
async def test_a_failure_once_the_pool_and_client_are_open_closes_them(
    portable_db: Database, monkeypatch: pytest.MonkeyPatch, attribute: str, failure: Any
) -> None:
    clients: list[PolygonClient] = []
    make_client = gateway.app.polygon_client

    def recording_client(
        settings: Settings,
        observer: Observer | None = None,
        pool: asyncpg.Pool | None = None,
        link: RedisLink | None = None,
    ) -> PolygonClient | None:
        client = make_client(settings, observer, pool, link)
        assert client is not None
        clients.append(client)
        return client

    monkeypatch.setattr(gateway.app, "polygon_client", recording_client)
    monkeypatch.setattr(UsageRecorder, attribute, failure)
    before = await _connections(portable_db)

    with pytest.raises(RuntimeError, match="usage recorder would not start"):
        async with _started(_settings(portable_db)):
            pass

    assert await _settles_at(portable_db, before) == before
    (client,) = clients
    assert client._http.is_closed


async def test_a_clean_start_and_stop_closes_everything(portable_db: Database) -> None:
    before = await _connections(portable_db)
    async with _started(_settings(portable_db)):
        assert await _connections(portable_db) >= before + 3  # the app's pool is open
    assert await _settles_at(portable_db, before) == before


async def test_a_started_app_collects_its_young_objects_less_often(
    portable_db: Database,
) -> None:
    """Requests in flight together hold thousands of objects: at CPython's default of 700
    allocations the collector ran every few requests (gateway/app.py)."""
    default = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        async with _started(_settings(portable_db)):
            assert gc.get_threshold() == (gateway.app.YOUNG_COLLECTION_THRESHOLD, 10, 10)
        assert gateway.app.YOUNG_COLLECTION_THRESHOLD >= 5000
    finally:
        gc.set_threshold(*default)
