"""The root query: symbols, bars and window aggregates."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import strawberry

from resolvers import symbols as symbol_resolvers
from resolvers.context import Context
from schema.admin import AdminQuery
from schema.cost import DEFAULT_BARS_LIMIT, DEFAULT_SYMBOLS_FIRST
from schema.selection import bar_columns
from schema.series import BarSeries
from schema.types import Aggregate, Bar, Market, SortOrder, Symbol, Timeframe
from storage.timeframes import Timeframe as StorageTimeframe

From = Annotated[datetime, strawberry.argument(name="from")]
OptionalFrom = Annotated[datetime | None, strawberry.argument(name="from")]


@strawberry.type(
    description="Root fields are nullable: one failing field leaves the others' answers intact."
)
class Query(AdminQuery):
    @strawberry.field(description="A ticker the store knows (reference data or bars), or null.")
    async def symbol(self, info: strawberry.Info[Context, None], ticker: str) -> Symbol | None:
        found = await symbol_resolvers.symbol(info.context, ticker)
        return None if found is None else Symbol.of(found)

    @strawberry.field(
        description="The listed `tickers` in the order given (known or not), or else a page of"
        " stored reference data matching `search`/`market`, ordered by ticker; pass the last"
        " ticker of a page as `after` for the next."
    )
    async def symbols(
        self,
        info: strawberry.Info[Context, None],
        tickers: list[str] | None = None,
        search: str | None = None,
        market: Market | None = None,
        first: int = DEFAULT_SYMBOLS_FIRST,
        after: str | None = None,
    ) -> list[Symbol] | None:
        found = await symbol_resolvers.symbols(
            info.context, tickers, search, market.value if market else None, first, after
        )
        return [Symbol.of(s) for s in found]

    @strawberry.field(description="Bars of one ticker in [from, to), at most `limit`.")
    async def bars(
        self,
        info: strawberry.Info[Context, None],
        ticker: str,
        timeframe: Timeframe = StorageTimeframe.D1,  # type: ignore[valid-type]
        from_: OptionalFrom = None,
        to: datetime | None = None,
        limit: int = DEFAULT_BARS_LIMIT,
        order: SortOrder = SortOrder.ASC,
    ) -> list[Bar] | None:
        rows = await symbol_resolvers.bars(
            info.context, ticker, timeframe, from_, to, limit, order.value, bar_columns(info)
        )
        return rows

    @strawberry.field(
        description="The bars `bars` gives, as one array per field (smaller, faster JSON)."
    )
    async def bar_series(
        self,
        info: strawberry.Info[Context, None],
        ticker: str,
        timeframe: Timeframe = StorageTimeframe.D1,  # type: ignore[valid-type]
        from_: OptionalFrom = None,
        to: datetime | None = None,
        limit: int = DEFAULT_BARS_LIMIT,
        order: SortOrder = SortOrder.ASC,
    ) -> BarSeries | None:
        rows = await symbol_resolvers.bars(
            info.context, ticker, timeframe, from_, to, limit, order.value, bar_columns(info)
        )
        return BarSeries.of(ticker, timeframe, rows)  # type: ignore[no-any-return]

    @strawberry.field(description="One OHLCV summary per ticker over [from, to).")
    async def aggregates(
        self,
        info: strawberry.Info[Context, None],
        tickers: list[str],
        from_: From,
        to: datetime,
        basis: Timeframe = StorageTimeframe.M1,  # type: ignore[valid-type]
    ) -> list[Aggregate] | None:
        summaries = await symbol_resolvers.aggregates(info.context, tickers, from_, to, basis)
        return [Aggregate.of(summary, from_, to) for summary in summaries]
