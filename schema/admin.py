"""API keys over GraphQL: `me` for any key, administration for `admin` keys."""

from __future__ import annotations

from datetime import datetime

import strawberry

from resolvers import admin
from resolvers.context import Context
from storage.api_keys import ApiKeyRecord
from storage.api_keys import Scope as StorageScope

Scope = strawberry.enum(StorageScope, name="Scope", description="What a key may do.")


@strawberry.type(description="An API key as administrators see it: never the key itself.")
class ApiKey:
    id: int
    name: str
    key_preview: str
    scopes: list[Scope]  # type: ignore[valid-type]
    active: bool
    created_at: datetime
    last_used: datetime | None
    request_count: int
    expires_at: datetime | None
    rate_limit_per_minute: float | None

    @classmethod
    def of(cls, record: ApiKeyRecord) -> ApiKey:
        return cls(
            id=record.id,
            name=record.name,
            key_preview=record.key_preview,
            scopes=sorted(record.scopes, key=list(StorageScope).index),
            active=record.active,
            created_at=record.created_at,
            last_used=record.last_used,
            request_count=record.request_count,
            expires_at=record.expires_at,
            rate_limit_per_minute=record.rate_limit_per_minute,
        )


@strawberry.type(description="A new key: `apiKey` is shown this once and never again.")
class CreatedApiKey:
    api_key: str
    key: ApiKey


@strawberry.type
class AdminQuery:
    @strawberry.field(description="The calling key (any scope).")
    async def me(self, info: strawberry.Info[Context, None]) -> ApiKey:
        return ApiKey.of(await admin.me(info.context))

    @strawberry.field(description="Every key (admin scope).")
    async def api_keys(
        self, info: strawberry.Info[Context, None], active_only: bool = False
    ) -> list[ApiKey]:
        return [ApiKey.of(r) for r in await admin.list_keys(info.context, active_only)]


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Issue a key (admin scope); the key is in the answer only.")
    async def create_api_key(
        self,
        info: strawberry.Info[Context, None],
        name: str,
        scopes: list[Scope] | None = None,  # type: ignore[valid-type]
        expires_at: datetime | None = None,
        rate_limit_per_minute: float | None = None,
    ) -> CreatedApiKey:
        record, raw = await admin.create_key(
            info.context, name, scopes or [StorageScope.READ], expires_at, rate_limit_per_minute
        )
        return CreatedApiKey(api_key=raw, key=ApiKey.of(record))

    @strawberry.mutation(description="Deactivate a key (reversible; admin scope).")
    async def revoke_api_key(self, info: strawberry.Info[Context, None], id: int) -> ApiKey:
        return ApiKey.of(await admin.set_active(info.context, id, False))

    @strawberry.mutation(description="Reactivate a revoked key (admin scope).")
    async def restore_api_key(self, info: strawberry.Info[Context, None], id: int) -> ApiKey:
        return ApiKey.of(await admin.set_active(info.context, id, True))

    @strawberry.mutation(description="Delete a key for good (admin scope); returns its id.")
    async def delete_api_key(self, info: strawberry.Info[Context, None], id: int) -> int:
        return await admin.delete_key(info.context, id)
