"""What the layers hand each other: plain records, no behaviour beyond derived values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal, NamedTuple

from domain.access import Scope
from domain.timeframes import Timeframe


@dataclass(frozen=True, slots=True)
class ApiKeyRecord:
    """A key as administrators see it: never the key, never its digest."""

    id: int
    name: str
    key_preview: str
    scopes: frozenset[Scope]
    active: bool
    created_at: datetime
    last_used: datetime | None
    request_count: int
    expires_at: datetime | None
    rate_limit_per_minute: float | None

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now


class SymbolInfo(NamedTuple):
    """What the API shows about a ticker."""

    ticker: str
    name: str | None
    market: str
    primary_exchange: str | None
    currency: str | None
    active: bool


@dataclass(frozen=True, slots=True)
class WindowSummary:
    """OHLCV over a window: what a quote panel or a period-return column shows."""

    symbol: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None
    trades: int | None
    bar_count: int
    first_time: datetime
    last_time: datetime
    source_timeframe: Timeframe

    @property
    def change(self) -> float:
        return self.close - self.open

    @property
    def change_percent(self) -> float | None:
        return None if self.open == 0 else (self.close - self.open) / self.open * 100.0


BAR_COLUMNS = (
    "symbol", "time", "open", "high", "low", "close", "volume", "vwap", "trades", "bar_count",
    "quality_score", "gap_detected", "volume_anomaly", "validation_notes", "source", "fetched_at",
)  # fmt: skip
"""Every column a bar record may carry, in select-list order (reads ask for a subset)."""


Order = Literal["asc", "desc"]
