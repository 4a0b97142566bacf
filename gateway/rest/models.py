"""The JSON shapes of the REST routes (field names are the older API's contract).

Declared once as pydantic models: FastAPI checks each answer against them and publishes them
in `/openapi.json`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    """Every refusal and failure: what went wrong, and its code."""

    detail: str
    code: str = Field(description="BAD_USER_INPUT, UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, ...")


# -- public ----------------------------------------------------------------------------------


class Authentication(BaseModel):
    header: str = "X-API-Key"
    bearer: str = "Authorization: Bearer <key>"
    anonymous_reads: bool


class ServiceInfo(BaseModel):
    name: str
    version: str
    description: str
    dashboard: str | None
    docs: str
    graphql: str
    authentication: Authentication
    endpoints: dict[str, str]


class HealthReport(BaseModel):
    status: Literal["healthy", "degraded"]
    timestamp: datetime
    database: str
    rollup_backend: str
    scheduler_running: bool


class DatabaseFigures(BaseModel):
    symbols_available: int
    latest_data: datetime | None
    total_records: int
    validated_records: int
    validation_rate_pct: float


class DataQuality(BaseModel):
    records_with_gaps_flagged: int
    scheduler_status: Literal["running", "stopped", "disabled"]
    last_backfill: datetime | None


class StatusReport(BaseModel):
    api_version: str
    status: Literal["operational"]
    database: DatabaseFigures
    data_quality: DataQuality


class SchedulerState(BaseModel):
    running: bool
    schedule: str | None


class LastBackfill(BaseModel):
    time: datetime | None
    successful_symbols: int
    failed_symbols: int
    total_records_imported: int


class HealthSummary(BaseModel):
    api: Literal["healthy"]
    database: Literal["healthy", "unreachable"]


class MetricsReport(BaseModel):
    timestamp: datetime
    scheduler: SchedulerState
    last_backfill: LastBackfill
    database: DatabaseFigures
    health: HealthSummary


class HistoricalBar(BaseModel):
    time: datetime
    symbol: str
    timeframe: str
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None
    source: str | None
    validated: bool
    quality_score: float | None
    validation_notes: str | None
    gap_detected: bool | None
    volume_anomaly: bool | None
    fetched_at: datetime | None


class HistoricalData(BaseModel):
    symbol: str
    timeframe: str
    start_date: date
    end_date: date
    count: int
    data: list[HistoricalBar]


class SymbolList(BaseModel):
    symbols: list[str]
    count: int


class SymbolDetail(BaseModel):
    symbol: str
    records: int
    validation_rate: float = Field(description="Percent of bars scoring at least 0.85.")
    latest_data: datetime | None
    data_age_hours: float | None
    timeframes: list[str] = Field(description="Base timeframes stored (1m, 1d).")
    status: Literal["healthy", "warning", "stale"]


class SymbolDetails(BaseModel):
    count: int
    timestamp: datetime
    symbols: list[SymbolDetail]


class RecentBar(BaseModel):
    symbol: str
    timestamp: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None


class RecentBars(BaseModel):
    status: Literal["success"]
    data: list[RecentBar]


# -- admin -----------------------------------------------------------------------------------


class TrackRequest(BaseModel):
    symbol: str = Field(json_schema_extra={"minLength": 1, "maxLength": 20})
    asset_class: str = Field(default="stock", json_schema_extra={"enum": ["stock", "crypto"]})


class ActiveRequest(BaseModel):
    active: bool


class TimeframesRequest(BaseModel):
    timeframes: list[str]


class DateRange(BaseModel):
    start: datetime | None
    end: datetime | None


class TrackedStats(BaseModel):
    record_count: int
    date_range: DateRange
    validation_rate: float
    gaps_detected: int


class Tracked(BaseModel):
    id: int
    symbol: str
    asset_class: str
    active: bool
    timeframes: list[str]
    date_added: datetime
    last_backfill: datetime | None
    backfill_status: str
    stats: TrackedStats | None = None


class Untracked(BaseModel):
    status: Literal["success"]
    message: str
    data_retained: Literal[True]


class KeyRequest(BaseModel):
    name: str = Field(json_schema_extra={"minLength": 1, "maxLength": 100})
    scopes: list[str] | None = Field(
        default=None, json_schema_extra={"items": {"enum": ["read", "fetch", "admin"]}}
    )


class CreatedKey(BaseModel):
    id: int
    api_key: str = Field(description="The key itself, shown this once only.")
    key_preview: str
    name: str
    created_at: datetime


class KeySummary(BaseModel):
    id: int
    name: str
    active: bool
    created_at: datetime
    last_used: datetime | None
    request_count: int


class AuditLine(BaseModel):
    id: int
    endpoint: str
    method: str
    status_code: int
    timestamp: datetime


class AuditPage(BaseModel):
    key_id: int
    entries: list[AuditLine]
    total: int
    limit: int
    offset: int


class KeyActivity(BaseModel):
    status: Literal["success"]
    message: str
    key_id: int
    active: bool


class KeyDeleted(BaseModel):
    status: Literal["success"]
    message: str
    key_id: int
