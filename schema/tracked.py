"""Tracked symbols over GraphQL (admin scope): the same service as the REST admin routes."""

from __future__ import annotations

import enum
from datetime import datetime

import strawberry

from domain.records import TrackedSymbol as TrackedRecord
from domain.timeframes import Timeframe as StorageTimeframe
from resolvers import tracked
from schema.info import Info
from schema.permissions import IsAdmin
from schema.types import Timeframe


@strawberry.enum(description="What a tracked symbol is: a stock or a crypto pair (X:…).")
class AssetClass(enum.Enum):
    STOCK = "stock"
    CRYPTO = "crypto"


@strawberry.type(description="A symbol whose timeframes the scheduled backfill keeps stored.")
class TrackedSymbol:
    id: int
    symbol: str
    asset_class: AssetClass
    active: bool
    timeframes: list[Timeframe]  # type: ignore[valid-type]
    date_added: datetime
    last_backfill: datetime | None
    backfill_status: str = strawberry.field(description="pending, success or failed.")
    last_error: str | None = strawberry.field(description="Why the last backfill failed.")

    @classmethod
    def of(cls, record: TrackedRecord) -> TrackedSymbol:
        return cls(
            id=record.id,
            symbol=record.symbol,
            asset_class=AssetClass(record.asset_class),
            active=record.active,
            timeframes=list(record.timeframes),
            date_added=record.date_added,
            last_backfill=record.last_backfill,
            backfill_status=record.backfill_status,
            last_error=record.last_error,
        )


@strawberry.type
class TrackedQuery:
    @strawberry.field(
        description="Tracked symbols by symbol (admin scope).", permission_classes=[IsAdmin]
    )
    async def tracked_symbols(self, info: Info, active_only: bool = True) -> list[TrackedSymbol]:
        return [TrackedSymbol.of(r) for r in await tracked.listed(info.context, active_only)]


@strawberry.type
class TrackedMutation:
    @strawberry.mutation(
        description="Track a symbol (daily bars to begin with; admin scope). CONFLICT when it"
        " is tracked already.",
        permission_classes=[IsAdmin],
    )
    async def track_symbol(
        self, info: Info, symbol: str, asset_class: AssetClass = AssetClass.STOCK
    ) -> TrackedSymbol:
        return TrackedSymbol.of(await tracked.track(info.context, symbol, asset_class.value))

    @strawberry.mutation(
        description="Pause or resume a symbol's scheduled backfill (admin scope).",
        permission_classes=[IsAdmin],
    )
    async def set_tracked_symbol_active(
        self, info: Info, symbol: str, active: bool
    ) -> TrackedSymbol:
        return TrackedSymbol.of(await tracked.set_active(info.context, symbol, active))

    @strawberry.mutation(
        description="Replace the timeframes backfilled: deduplicated, shortest first (admin).",
        permission_classes=[IsAdmin],
    )
    async def set_tracked_symbol_timeframes(
        self,
        info: Info,
        symbol: str,
        timeframes: list[Timeframe],  # type: ignore[valid-type]
    ) -> TrackedSymbol:
        chosen = [StorageTimeframe(t).value for t in timeframes]
        return TrackedSymbol.of(await tracked.set_timeframes(info.context, symbol, chosen))

    @strawberry.mutation(
        description="Stop tracking a symbol; its stored bars stay (admin scope). Returns it.",
        permission_classes=[IsAdmin],
    )
    async def untrack_symbol(self, info: Info, symbol: str) -> str:
        return await tracked.untrack(info.context, symbol)
