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


class WindowSummary(NamedTuple):
    """OHLCV over a window: what a quote panel or a period-return column shows. A named
    tuple, as `SymbolInfo` is: a dashboard reads one per symbol, and a frozen dataclass took
    five times as long to build (1.2 µs against 0.23)."""

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
BAR_COLUMN_SET = frozenset(BAR_COLUMNS)
"""The same columns, for membership tests."""


Order = Literal["asc", "desc"]


AssetClass = Literal["stock", "crypto"]


@dataclass(frozen=True, slots=True)
class TrackedSymbol:
    """A symbol an administrator tracks: the scheduled backfill keeps its timeframes filled."""

    id: int
    symbol: str
    asset_class: AssetClass
    active: bool
    timeframes: tuple[Timeframe, ...]
    date_added: datetime
    last_backfill: datetime | None
    backfill_status: str  # pending, success or failed
    last_error: str | None


@dataclass(frozen=True, slots=True)
class SymbolFigures:
    """What the store holds of one symbol's base bars."""

    symbol: str
    records: int
    validated: int
    gaps: int
    first: datetime | None
    latest: datetime | None
    timeframes: tuple[str, ...]

    @property
    def validation_rate_pct(self) -> float:
        return round(100.0 * self.validated / self.records, 2) if self.records else 0.0


@dataclass(frozen=True, slots=True)
class StoreFigures:
    """Totals over every stored base bar."""

    symbols: int
    records: int
    validated: int
    gaps: int
    latest: datetime | None

    @property
    def validation_rate_pct(self) -> float:
        return round(100.0 * self.validated / self.records, 2) if self.records else 0.0


@dataclass(frozen=True, slots=True)
class BackfillRun:
    """One scheduled backfill run (one per schedule tick across all processes)."""

    id: int
    scheduled_for: datetime
    started_at: datetime
    finished_at: datetime | None
    successful_symbols: int
    failed_symbols: int
    records_imported: int
