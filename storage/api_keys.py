"""API keys: issued once, stored as a SHA-256 digest, checked in constant time.

A key is `mg_` + 32 random bytes (url-safe base64). Only its digest and a short preview are
stored, so a copy of the database cannot be used to call the API. Usage counters and the audit
trail are written in batches by storage/usage.py, never once per request.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import asyncpg

from domain.access import Principal, Scope
from domain.errors import NotFound, ServiceError
from domain.records import ApiKeyRecord
from storage.pool import Conn, Executor
from storage.unavailable import idempotent_read, when_unreachable

KEY_PREFIX = "mg_"
# Anything that cannot be a key is refused before it is hashed or looked up.
_KEY_SHAPE = re.compile(r"^mg_[A-Za-z0-9_\-]{20,128}$")
_COLUMNS = (
    "id, name, key_preview, scopes, active, created_at, last_used, request_count, expires_at,"
    " rate_limit_per_minute"
)


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One authenticated request, as recorded by the usage flusher."""

    id: int
    key_id: int
    endpoint: str
    method: str
    status_code: int
    timestamp: datetime
    duration_ms: float | None


def generate_key() -> str:
    """A fresh random key: `mg_` + 43 url-safe characters (256 bits)."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(raw_key: str) -> str:
    """The stored form of a key: its SHA-256 as hex (keys are random, so no salt is needed)."""
    return hashlib.sha256(raw_key.encode()).hexdigest()


def preview(raw_key: str) -> str:
    """A recognisable but useless fragment for display, e.g. `mg_AbCd…wxyz`."""
    return f"{raw_key[: len(KEY_PREFIX) + 4]}…{raw_key[-4:]}"


def looks_like_key(raw_key: str) -> bool:
    """Cheap shape check, so junk never costs a hash or a query."""
    return bool(_KEY_SHAPE.match(raw_key))


def _record(row: asyncpg.Record) -> ApiKeyRecord:
    return ApiKeyRecord(
        id=row["id"],
        name=row["name"],
        key_preview=row["key_preview"],
        scopes=frozenset(Scope(s) for s in row["scopes"]),
        active=row["active"],
        created_at=row["created_at"],
        last_used=row["last_used"],
        request_count=row["request_count"],
        expires_at=row["expires_at"],
        rate_limit_per_minute=row["rate_limit_per_minute"],
    )


@when_unreachable
async def create_key(
    pool: Executor,
    name: str,
    scopes: Iterable[Scope] = (Scope.READ,),
    *,
    expires_at: datetime | None = None,
    rate_limit_per_minute: float | None = None,
) -> tuple[ApiKeyRecord, str]:
    """Issue a key; the raw key is returned here only and cannot be recovered later.

    The arguments were validated by the caller (`resolvers.keys.issue_key`).
    """
    raw = generate_key()
    row = await pool.fetchrow(
        "INSERT INTO api_keys (name, key_hash, key_preview, scopes, expires_at,"
        " rate_limit_per_minute) VALUES ($1, $2, $3, $4::text[], $5, $6)"
        f" RETURNING {_COLUMNS}",
        name,
        hash_key(raw),
        preview(raw),
        sorted(set(scopes)),
        expires_at,
        rate_limit_per_minute,
    )
    if row is None:  # pragma: no cover - INSERT ... RETURNING always returns the row
        raise ServiceError("api key insert returned nothing")
    return _record(row), raw


@idempotent_read
async def list_keys(pool: Executor, active_only: bool = False) -> list[ApiKeyRecord]:
    """Every key (or only active ones), oldest first."""
    rows = await pool.fetch(
        f"SELECT {_COLUMNS} FROM api_keys WHERE active OR NOT $1 ORDER BY id", active_only
    )
    return [_record(r) for r in rows]


@idempotent_read
async def get_key(pool: Executor, key_id: int) -> ApiKeyRecord:
    """One key by id; NotFound when there is none."""
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE id = $1", key_id)
    if row is None:
        raise NotFound(f"no API key with id {key_id}")
    return _record(row)


@when_unreachable
async def set_active(pool: Executor, key_id: int, active: bool) -> ApiKeyRecord:
    """Revoke (`active=False`) or restore a key; NotFound when there is none."""
    row = await pool.fetchrow(
        f"UPDATE api_keys SET active = $2 WHERE id = $1 RETURNING {_COLUMNS}", key_id, active
    )
    if row is None:
        raise NotFound(f"no API key with id {key_id}")
    return _record(row)


@when_unreachable
async def delete_key(pool: Executor, key_id: int) -> None:
    """Remove a key for good (its audit stays until retention removes it)."""
    deleted = await pool.fetchval("DELETE FROM api_keys WHERE id = $1 RETURNING id", key_id)
    if deleted is None:
        raise NotFound(f"no API key with id {key_id}")


@idempotent_read
async def verify(pool: Executor, raw_key: str, *, now: datetime | None = None) -> Principal | None:
    """The caller behind `raw_key`, or None when it is unknown, revoked or expired."""
    if not looks_like_key(raw_key):
        return None
    digest = hash_key(raw_key)
    row = await pool.fetchrow(
        "SELECT id, name, key_hash, scopes, active, expires_at, rate_limit_per_minute"
        " FROM api_keys WHERE key_hash = $1",
        digest,
    )
    if row is None or not hmac.compare_digest(row["key_hash"], digest):
        return None
    principal = Principal(
        key_id=row["id"],
        name=row["name"],
        scopes=frozenset(Scope(s) for s in row["scopes"]),
        rate_limit_per_minute=row["rate_limit_per_minute"],
        expires_at=row["expires_at"],
    )
    if not row["active"] or principal.expired(now or datetime.now(UTC)):
        return None
    return principal


@idempotent_read
async def audit_entries(
    pool: Executor, key_id: int, limit: int = 100, offset: int = 0
) -> tuple[list[AuditEntry], int]:
    """One page of a key's audit, newest first, and how many entries it has in all."""
    rows = await pool.fetch(
        "SELECT id, key_id, endpoint, method, status_code, requested_at, duration_ms"
        " FROM api_key_audit WHERE key_id = $1"
        " ORDER BY requested_at DESC, id DESC LIMIT $2 OFFSET $3",
        key_id,
        limit,
        offset,
    )
    total = await pool.fetchval("SELECT count(*) FROM api_key_audit WHERE key_id = $1", key_id)
    entries = [
        AuditEntry(
            id=r["id"],
            key_id=r["key_id"],
            endpoint=r["endpoint"],
            method=r["method"],
            status_code=r["status_code"],
            timestamp=r["requested_at"],
            duration_ms=r["duration_ms"],
        )
        for r in rows
    ]
    return entries, int(total)


# Batched writes used by storage/usage.py -------------------------------------------------------


async def add_usage(
    conn: Conn, key_ids: Sequence[int], counts: Sequence[int], last_used: Sequence[datetime]
) -> int:
    """Add request counts and advance last_used for many keys in one statement.

    Increments (not assignments), so flushers in several workers add up correctly; ids of keys
    deleted meanwhile simply match nothing.
    """
    status = await conn.execute(
        "UPDATE api_keys AS k SET request_count = k.request_count + u.n,"
        " last_used = GREATEST(k.last_used, u.at)"
        " FROM unnest($1::bigint[], $2::bigint[], $3::timestamptz[]) AS u(id, n, at)"
        " WHERE k.id = u.id",
        list(key_ids),
        list(counts),
        list(last_used),
    )
    return int(status.rsplit(" ", 1)[-1])


AuditRow = tuple[int, str, str, int, datetime, float]
AUDIT_COLUMNS = ("key_id", "endpoint", "method", "status_code", "requested_at", "duration_ms")


AUDIT_COPY_ROWS = 2000
"""Audit rows per COPY: asyncpg encodes a COPY's records in one go, holding the event loop
(14,000 rows, one busy worker's 5 s, held it 10.6 ms; 2,000 about 1.5 ms)."""


async def insert_audit(conn: Conn, rows: Sequence[AuditRow]) -> None:
    """Append audit rows with COPY, AUDIT_COPY_ROWS at a time (run it in a transaction to
    write all or none): (key_id, endpoint, method, status_code, at, duration_ms)."""
    for start in range(0, len(rows), AUDIT_COPY_ROWS):
        chunk = rows[start : start + AUDIT_COPY_ROWS]
        await conn.copy_records_to_table("api_key_audit", records=chunk, columns=AUDIT_COLUMNS)


async def delete_audit_before(conn: Conn, cutoff: datetime) -> int:
    """Drop audit rows older than `cutoff`; returns how many went."""
    status = await conn.execute("DELETE FROM api_key_audit WHERE requested_at < $1", cutoff)
    return int(status.rsplit(" ", 1)[-1])
