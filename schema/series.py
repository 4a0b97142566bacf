"""`BarSeries`: the same bars as columns — one array per field — for charts and dataframes.

Arrays of scalars cost the fast path one check per column (schema/fast_path.py), and the JSON
is a third the size of a list of objects, so this is the cheapest shape for many bars.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
import strawberry

from domain.timeframes import Timeframe as StorageTimeframe
from schema.types import Timeframe

_COLUMNS = ("time", "open", "high", "low", "close", "volume", "vwap", "trades", "bar_count")


@strawberry.type(description="Bars of one ticker as parallel arrays: index i is one bar.")
class BarSeries:
    ticker: str
    timeframe: Timeframe  # type: ignore[valid-type]
    time: list[datetime] = strawberry.field(description="Start of each bar's bucket.")
    open: list[float]
    high: list[float]
    low: list[float]
    close: list[float]
    volume: list[float]
    vwap: list[float | None]
    trades: list[int | None]
    bar_count: list[int]

    @classmethod
    def of(cls, ticker: str, timeframe: StorageTimeframe, rows: Sequence[asyncpg.Record]) -> Any:
        """Columns of `rows`; a column the rows lack (not selected, so not read) stays empty."""
        columns: dict[str, Any] = dict.fromkeys(_COLUMNS, ())  # tuples: lists to GraphQL
        if rows:
            transposed = zip(rows[0].keys(), zip(*rows, strict=True), strict=True)
            columns.update((name, column) for name, column in transposed if name in columns)
        return cls(ticker=ticker, timeframe=timeframe, **columns)
