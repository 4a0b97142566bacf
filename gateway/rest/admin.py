"""The older API's admin routes: tracked symbols and API keys (a key with `admin` only)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from domain.records import SymbolFigures, TrackedSymbol
from gateway.rest import models
from gateway.rest.access import Admin
from gateway.rest.errors import TICKER_SHAPE, documented
from gateway.rest.json_body import JSON_BODY
from resolvers import keys, tracked
from resolvers.validation import MAX_ID

# 413: every admin write has a body, bounded by the admin body limit (gateway/body_limit.py)
router = APIRouter(prefix="/api/v1/admin", tags=["admin"], responses=documented(400, 401, 403, 413))
Symbol = Annotated[
    str,
    Path(
        description="A tracked ticker (case-insensitive).",
        json_schema_extra={"pattern": TICKER_SHAPE},
    ),
]
KeyId = Annotated[
    int, Path(description="The key's id.", json_schema_extra={"minimum": 1, "maximum": MAX_ID})
]


def _tracked(symbol: TrackedSymbol, stats: SymbolFigures | None = None) -> models.Tracked:
    return models.Tracked(
        id=symbol.id,
        symbol=symbol.symbol,
        asset_class=symbol.asset_class,
        active=symbol.active,
        timeframes=[t.value for t in symbol.timeframes],
        date_added=symbol.date_added,
        last_backfill=symbol.last_backfill,
        backfill_status=symbol.backfill_status,
        stats=None if stats is None else _stats(stats),
    )


def _stats(figures: SymbolFigures) -> models.TrackedStats:
    return models.TrackedStats(
        record_count=figures.records,
        date_range=models.DateRange(start=figures.first, end=figures.latest),
        validation_rate=figures.validation_rate_pct,
        gaps_detected=figures.gaps,
    )


def _no_data(symbol: str) -> SymbolFigures:
    return SymbolFigures(symbol, 0, 0, 0, None, None, ())


@router.post(
    "/symbols",
    status_code=201,
    response_model=models.Tracked,
    responses=documented(409, 415),
    dependencies=JSON_BODY,
)
async def track_symbol(context: Admin, body: models.TrackRequest) -> models.Tracked:
    """Track a symbol (daily bars to begin with); 409 when it is tracked already."""
    return _tracked(await tracked.track(context, body.symbol.upper(), body.asset_class))


@router.get("/symbols", response_model=list[models.Tracked])
async def list_symbols(
    context: Admin, active_only: bool = True, include_stats: bool = False
) -> list[models.Tracked]:
    found = await tracked.listed(context, active_only)
    if not include_stats:
        return [_tracked(s) for s in found]
    stats = await tracked.stats(context, [s.symbol for s in found])
    return [_tracked(s, stats.get(s.symbol, _no_data(s.symbol))) for s in found]


@router.get("/symbols/{symbol}", response_model=models.Tracked, responses=documented(404))
async def get_symbol(context: Admin, symbol: Symbol) -> models.Tracked:
    """A tracked symbol with what the store holds of it."""
    found = await tracked.one(context, symbol.upper())
    stats = await tracked.stats(context, [found.symbol])
    return _tracked(found, stats.get(found.symbol, _no_data(found.symbol)))


@router.put("/symbols/{symbol}", response_model=models.Tracked, responses=documented(404))
async def set_symbol_active(
    context: Admin, symbol: Symbol, active: Annotated[bool, Query()]
) -> models.Tracked:
    """Pause (`active=false`) or resume a symbol's scheduled backfill."""
    return _tracked(await tracked.set_active(context, symbol.upper(), active))


@router.put(
    "/symbols/{symbol}/timeframes",
    response_model=models.Tracked,
    responses=documented(404, 415),
    dependencies=JSON_BODY,
)
async def set_symbol_timeframes(
    context: Admin, symbol: Symbol, body: models.TimeframesRequest
) -> models.Tracked:
    """Replace the timeframes backfilled (deduplicated and sorted)."""
    return _tracked(await tracked.set_timeframes(context, symbol.upper(), body.timeframes))


@router.delete("/symbols/{symbol}", response_model=models.Untracked, responses=documented(404))
async def untrack_symbol(context: Admin, symbol: Symbol) -> models.Untracked:
    """Stop tracking a symbol; its stored bars stay."""
    gone = await tracked.untrack(context, symbol.upper())
    return models.Untracked(
        status="success", message=f"{gone} is no longer tracked", data_retained=True
    )


@router.post(
    "/api-keys",
    status_code=201,
    response_model=models.CreatedKey,
    responses=documented(415),
    dependencies=JSON_BODY,
)
async def create_key(context: Admin, body: models.KeyRequest) -> models.CreatedKey:
    """Issue a key (scopes default to `read`); the key is in this answer only."""
    scopes = ["read"] if body.scopes is None else body.scopes
    record, raw = await keys.create_key(context, body.name, scopes, None, None)
    return models.CreatedKey(
        id=record.id,
        api_key=raw,
        key_preview=record.key_preview,
        name=record.name,
        created_at=record.created_at,
    )


@router.get("/api-keys", response_model=list[models.KeySummary])
async def list_keys(context: Admin, active_only: bool = False) -> list[models.KeySummary]:
    """Every key, never the key itself or its hash."""
    return [
        models.KeySummary(
            id=r.id,
            name=r.name,
            active=r.active,
            created_at=r.created_at,
            last_used=r.last_used,
            request_count=r.request_count,
        )
        for r in await keys.list_keys(context, active_only)
    ]


@router.get("/api-keys/{key_id}/audit", response_model=models.AuditPage, responses=documented(404))
async def key_audit(
    context: Admin, key_id: KeyId, limit: int = 100, offset: int = 0
) -> models.AuditPage:
    """One page of a key's audit trail, newest first."""
    entries, total = await keys.audit(context, key_id, limit, offset)
    return models.AuditPage(
        key_id=key_id,
        entries=[
            models.AuditLine(
                id=e.id,
                endpoint=e.endpoint,
                method=e.method,
                status_code=e.status_code,
                timestamp=e.timestamp,
            )
            for e in entries
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.put(
    "/api-keys/{key_id}",
    response_model=models.KeyActivity,
    responses=documented(404, 415),
    dependencies=JSON_BODY,
)
async def set_key_active(
    context: Admin, key_id: KeyId, body: models.ActiveRequest
) -> models.KeyActivity:
    """Revoke (`active: false`) or restore a key; effective at once in this process."""
    record = await keys.set_active(context, key_id, body.active)
    verb = "restored" if record.active else "revoked"
    return models.KeyActivity(
        status="success", message=f"key {key_id} {verb}", key_id=key_id, active=record.active
    )


@router.delete("/api-keys/{key_id}", response_model=models.KeyDeleted, responses=documented(404))
async def delete_key(context: Admin, key_id: KeyId) -> models.KeyDeleted:
    """Delete a key for good (its audit trail stays until retention removes it)."""
    await keys.delete_key(context, key_id)
    return models.KeyDeleted(status="success", message=f"key {key_id} deleted", key_id=key_id)
