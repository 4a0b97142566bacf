"""The root subscription: bars pushed as they are stored (see resolvers/live.py)."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime
from typing import Any, cast

import strawberry

from domain.timeframes import Timeframe as StorageTimeframe
from resolvers import live as live_service
from schema.info import Info
from schema.permissions import CanRead
from schema.types import Timeframe


@strawberry.type(description="A bar as pushed live: its ticker, bucket start and OHLCV.")
class LiveBar:
    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None = strawberry.field(description="Volume-weighted average price.")
    trades: int | None = strawberry.field(description="Number of trades, when known.")
    bar_count: int = strawberry.field(description="Base bars (1m or 1d) this bar is built from.")

    @strawberry.field(description="The bar's ticker.")
    def ticker(self, root: Any) -> str:
        return str(root["symbol"])


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Bars of `tickers` as they are stored or changed, in time order per ticker;"
        " rollup timeframes push the updated bucket. The first message replays the stored bars"
        " from `since` on (empty without it); every later one holds what one write changed."
        " Over `graphql-transport-ws` at /graphql, with the API key in `connection_init`.",
        permission_classes=[CanRead],
    )
    async def bars(
        self,
        info: Info,
        tickers: list[str],
        timeframe: Timeframe = StorageTimeframe.M1,  # type: ignore[valid-type]
        since: datetime | None = None,
    ) -> AsyncGenerator[list[LiveBar], None]:
        # awaited here, so a refusal (access, input, limit) is the operation's `error` message
        stream = await live_service.live_bars(info.context, tickers, timeframe, since)
        return cast("AsyncGenerator[list[LiveBar], None]", stream)  # records read by read_field
