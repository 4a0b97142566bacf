"""API keys: the caller's own (`me`), and administration (the schema guards it with `admin`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from domain.access import Scope
from domain.records import ApiKeyRecord
from resolvers import validation
from resolvers.context import RequestContext
from storage import api_keys
from storage.api_keys import AuditEntry
from storage.pool import Executor


async def me(context: RequestContext) -> ApiKeyRecord:
    """The caller's own key as administrators would see it (never the key itself)."""
    return await api_keys.get_key(context.services.pool, context.caller().key_id)


async def list_keys(context: RequestContext, active_only: bool) -> list[ApiKeyRecord]:
    return await api_keys.list_keys(context.services.pool, active_only)


async def issue_key(
    db: Executor,
    name: str,
    scopes: Sequence[Scope | str],
    expires_at: datetime | None,
    rate_limit_per_minute: float | None,
) -> tuple[ApiKeyRecord, str]:
    """A new key and its only shown copy, its arguments validated first (GraphQL and CLI)."""
    return await api_keys.create_key(
        db,
        validation.key_name(name),
        validation.key_scopes(scopes),
        expires_at=validation.key_expiry(expires_at),
        rate_limit_per_minute=validation.key_rate_limit(rate_limit_per_minute),
    )


async def create_key(
    context: RequestContext,
    name: str,
    scopes: Sequence[Scope | str],
    expires_at: datetime | None,
    rate_limit_per_minute: float | None,
) -> tuple[ApiKeyRecord, str]:
    """A new key and its only shown copy."""
    return await issue_key(context.services.pool, name, scopes, expires_at, rate_limit_per_minute)


async def set_active(context: RequestContext, key_id: int, active: bool) -> ApiKeyRecord:
    """Revoke or restore a key; this process stops trusting its cached copy at once."""
    validation.key_id(key_id)
    record = await api_keys.set_active(context.services.pool, key_id, active)
    context.services.forget_key(key_id)
    return record


async def delete_key(context: RequestContext, key_id: int) -> int:
    validation.key_id(key_id)
    await api_keys.delete_key(context.services.pool, key_id)
    context.services.forget_key(key_id)
    return key_id


async def audit(
    context: RequestContext, key_id: int, limit: int, offset: int
) -> tuple[list[AuditEntry], int]:
    """One page of a key's audit trail, newest first, and its total length."""
    validation.key_id(key_id)
    validation.offset_page(limit, offset, validation.MAX_AUDIT_PAGE)
    await api_keys.get_key(context.services.pool, key_id)  # NOT_FOUND for an unknown key
    return await api_keys.audit_entries(context.services.pool, key_id, limit, offset)
