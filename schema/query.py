"""The root query: symbols, bars and window aggregates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from domain.timeframes import Timeframe as StorageTimeframe
from resolvers import bars as bar_service
from resolvers import symbols as symbol_service
from schema.admin import AdminQuery
from schema.cost import DEFAULT_BARS_LIMIT, DEFAULT_SYMBOLS_FIRST
from schema.info import Info
from schema.permissions import CanRead
from schema.records import as_bars
from schema.selection import bar_columns, selects_any
from schema.series import BarSeries
from schema.tracked import TrackedQuery
from schema.types import REFERENCE_FIELDS, Aggregate, Bar, Market, SortOrder, Symbol, Timeframe

From = Annotated[datetime, strawberry.argument(name="from")]
OptionalFrom = Annotated[datetime | None, strawberry.argument(name="from")]


@strawberry.type(
    description="Root fields are nullable: one failing field leaves the others' answers intact."
)
class Query(AdminQuery, TrackedQuery):
    @strawberry.field(
        description="A ticker the store knows (reference data or bars), or null.",
        permission_classes=[CanRead],
    )
    async def symbol(self, info: Info, ticker: str) -> Symbol | None:
        found = await symbol_service.symbol(info.context, ticker)
        return None if found is None else Symbol.of(found)

    @strawberry.field(
        description="The listed `tickers` in the order given (known or not; a ticker listed"
        " twice is answered once, at its first place), or else a page of stored reference data"
        " matching `search`/`market`, ordered by ticker; pass the last ticker of a page as"
        " `after` for the next.",
        permission_classes=[CanRead],
    )
    async def symbols(
        self,
        info: Info,
        tickers: list[str] | None = None,
        search: str | None = None,
        market: Market | None = None,
        first: int = DEFAULT_SYMBOLS_FIRST,
        after: str | None = None,
    ) -> list[Symbol] | None:
        if tickers is not None:
            reference = selects_any(info, REFERENCE_FIELDS)
            found = await symbol_service.listed(info.context, tickers, reference=reference)
        else:
            market_name = market.value if market else None
            found = await symbol_service.search(info.context, search, market_name, first, after)
        return [Symbol.of(s) for s in found]

    @strawberry.field(
        description="Bars of one ticker in [from, to), at most `limit`.",
        permission_classes=[CanRead],
    )
    async def bars(
        self,
        info: Info,
        ticker: str,
        timeframe: Timeframe = StorageTimeframe.D1,  # type: ignore[valid-type]
        from_: OptionalFrom = None,
        to: datetime | None = None,
        limit: int = DEFAULT_BARS_LIMIT,
        order: SortOrder = SortOrder.ASC,
    ) -> list[Bar] | None:
        rows = await bar_service.bars(
            info.context, ticker, timeframe, from_, to, limit, order.value, bar_columns(info)
        )
        return as_bars(rows)

    @strawberry.field(
        description="The bars `bars` gives, as one array per field (smaller, faster JSON).",
        permission_classes=[CanRead],
    )
    async def bar_series(
        self,
        info: Info,
        ticker: str,
        timeframe: Timeframe = StorageTimeframe.D1,  # type: ignore[valid-type]
        from_: OptionalFrom = None,
        to: datetime | None = None,
        limit: int = DEFAULT_BARS_LIMIT,
        order: SortOrder = SortOrder.ASC,
    ) -> BarSeries | None:
        rows = await bar_service.bars(
            info.context, ticker, timeframe, from_, to, limit, order.value, bar_columns(info)
        )
        return BarSeries.of(ticker, timeframe, rows)  # type: ignore[no-any-return]

    @strawberry.field(
        description="One OHLCV summary per ticker over [from, to).",
        permission_classes=[CanRead],
    )
    async def aggregates(
        self,
        info: Info,
        tickers: list[str],
        from_: From,
        to: datetime,
        basis: Timeframe = StorageTimeframe.M1,  # type: ignore[valid-type]
    ) -> list[Aggregate] | None:
        summaries = await bar_service.aggregates(info.context, tickers, from_, to, basis)
        return [Aggregate.of(summary, from_, to) for summary in summaries]
