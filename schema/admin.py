"""API keys over GraphQL: `me` for any key, administration for `admin` keys."""

from __future__ import annotations

from datetime import datetime

import strawberry

from domain.access import Scope as StorageScope
from domain.records import ApiKeyRecord
from resolvers import keys
from schema.info import Info
from schema.permissions import IsAdmin

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


@strawberry.type(description="One authenticated request, as the audit trail recorded it.")
class AuditEntry:
    id: int
    endpoint: str = strawberry.field(
        description="What was asked: `graphql:<operation name>`, or a route or path."
    )
    method: str
    status_code: int
    timestamp: datetime
    duration_ms: float | None


@strawberry.type(description="A page of one key's audit trail, newest first.")
class AuditPage:
    key_id: int
    entries: list[AuditEntry]
    total: int
    limit: int
    offset: int


@strawberry.type
class AdminQuery:
    @strawberry.field(description="The calling key (any scope).")
    async def me(self, info: Info) -> ApiKey:
        return ApiKey.of(await keys.me(info.context))

    @strawberry.field(description="Every key (admin scope).", permission_classes=[IsAdmin])
    async def api_keys(self, info: Info, active_only: bool = False) -> list[ApiKey]:
        return [ApiKey.of(r) for r in await keys.list_keys(info.context, active_only)]

    @strawberry.field(
        description="A key's audit trail, newest first (admin scope).",
        permission_classes=[IsAdmin],
    )
    async def api_key_audit(
        self, info: Info, id: int, limit: int = 100, offset: int = 0
    ) -> AuditPage:
        entries, total = await keys.audit(info.context, id, limit, offset)
        rows = [
            AuditEntry(
                id=e.id,
                endpoint=e.endpoint,
                method=e.method,
                status_code=e.status_code,
                timestamp=e.timestamp,
                duration_ms=e.duration_ms,
            )
            for e in entries
        ]
        return AuditPage(key_id=id, entries=rows, total=total, limit=limit, offset=offset)


@strawberry.type
class KeyMutation:
    @strawberry.mutation(
        description="Issue a key (admin scope); the key is in the answer only.",
        permission_classes=[IsAdmin],
    )
    async def create_api_key(
        self,
        info: Info,
        name: str,
        scopes: list[Scope] | None = None,  # type: ignore[valid-type]
        expires_at: datetime | None = None,
        rate_limit_per_minute: float | None = None,
    ) -> CreatedApiKey:
        record, raw = await keys.create_key(
            info.context,
            name,
            [StorageScope.READ] if scopes is None else scopes,
            expires_at,
            rate_limit_per_minute,
        )
        return CreatedApiKey(api_key=raw, key=ApiKey.of(record))

    @strawberry.mutation(
        description="Deactivate a key (reversible; admin scope).", permission_classes=[IsAdmin]
    )
    async def revoke_api_key(self, info: Info, id: int) -> ApiKey:
        return ApiKey.of(await keys.set_active(info.context, id, False))

    @strawberry.mutation(
        description="Reactivate a revoked key (admin scope).", permission_classes=[IsAdmin]
    )
    async def restore_api_key(self, info: Info, id: int) -> ApiKey:
        return ApiKey.of(await keys.set_active(info.context, id, True))

    @strawberry.mutation(
        description="Delete a key for good (admin scope); returns its id.",
        permission_classes=[IsAdmin],
    )
    async def delete_api_key(self, info: Info, id: int) -> int:
        return await keys.delete_key(info.context, id)
