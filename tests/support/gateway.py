"""A real gateway for end-to-end tests: explicit settings, a uvicorn server, keys, headers."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from domain.access import Scope
from gateway.app import create_app
from gateway.settings import Settings
from storage import api_keys
from tests.support.databases import Database
from tests.support.live_server import serve_in_thread

ORIGIN = "https://app.example.com"
BODY_LIMIT = 4096


def settings(db: Database, **overrides: Any) -> Settings:
    """Every setting these tests rely on given explicitly: the environment cannot change them."""
    values: dict[str, Any] = {
        "database_url": db.url,
        "timescaledb": "off",
        "db_pool_min_size": 1,
        "db_pool_max_size": 4,
        "polygon_api_key": None,
        "anonymous_reads": False,
        "cors_origins": [ORIGIN],
        "max_request_body_bytes": BODY_LIMIT,
        "failed_auth_per_minute": 0,  # the matrix sends many bad keys from one address
        "default_rate_limit_per_minute": 600,
        "key_cache_ttl_seconds": 30,
        "key_negative_cache_seconds": 5,
        "max_bars_per_response": 100_000,
        "introspection": True,
        "backfill_schedule": None,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@contextlib.contextmanager
def live(config: Settings) -> Iterator[str]:
    """The gateway app of `config` served on 127.0.0.1 (lifespan on) until the block ends."""
    with serve_in_thread(create_app(config), lifespan="on") as url:
        yield url


async def make_key(db: Database, name: str, *scopes: Scope, **options: Any) -> tuple[int, str]:
    record, raw = await api_keys.create_key(db.pool, name, scopes or (Scope.READ,), **options)
    return record.id, raw


def auth(key: str | None) -> dict[str, str]:
    return {} if key is None else {"X-API-Key": key}
