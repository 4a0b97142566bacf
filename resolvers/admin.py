"""Key administration and `me`: admin-only, except `me`, which any key may ask."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from resolvers.access import require
from resolvers.context import Context
from resolvers.errors import UNAUTHENTICATED, coded, from_storage
from storage import api_keys
from storage.api_keys import ApiKeyRecord, Scope
from storage.errors import StorageError

T = TypeVar("T")


async def _storage(call: Callable[[], Awaitable[T]]) -> T:
    try:
        return await call()
    except StorageError as exc:
        raise from_storage(exc) from exc


async def me(context: Context) -> ApiKeyRecord:
    """The caller's own key as administrators would see it (never the key itself)."""
    if context.principal is None:
        raise coded("an API key is required (X-API-Key or Authorization: Bearer)", UNAUTHENTICATED)
    key_id = context.principal.key_id
    return await _storage(lambda: api_keys.get_key(context.services.pool, key_id))


async def list_keys(context: Context, active_only: bool) -> list[ApiKeyRecord]:
    require(context, Scope.ADMIN)
    return await _storage(lambda: api_keys.list_keys(context.services.pool, active_only))


async def create_key(
    context: Context,
    name: str,
    scopes: list[Scope],
    expires_at: datetime | None,
    rate_limit_per_minute: float | None,
) -> tuple[ApiKeyRecord, str]:
    require(context, Scope.ADMIN)
    return await _storage(
        lambda: api_keys.create_key(
            context.services.pool,
            name,
            scopes,
            expires_at=expires_at,
            rate_limit_per_minute=rate_limit_per_minute,
        )
    )


async def set_active(context: Context, key_id: int, active: bool) -> ApiKeyRecord:
    require(context, Scope.ADMIN)
    record = await _storage(lambda: api_keys.set_active(context.services.pool, key_id, active))
    context.services.forget_key(key_id)  # this process stops trusting its cached copy now
    return record


async def delete_key(context: Context, key_id: int) -> int:
    require(context, Scope.ADMIN)
    await _storage(lambda: api_keys.delete_key(context.services.pool, key_id))
    context.services.forget_key(key_id)
    return key_id
