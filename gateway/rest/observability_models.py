"""The JSON shapes of the observability and performance routes (COMPAT.md field names).

Declared as pydantic models so `/openapi.json` documents them; gateway/observability/stats.py
computes the values as plain dicts in exactly these shapes.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field


class SummaryFigures(BaseModel):
    total_requests: int
    total_errors: int
    error_rate_pct: float
    avg_response_time_ms: float
    requests_last_hour: int
    errors_last_hour: int


class EndpointFigures(BaseModel):
    requests: int
    errors: int
    avg_duration_ms: float
    status_codes: dict[str, int] = Field(description="Requests by HTTP status.")


class ObservabilityMetrics(BaseModel):
    timestamp: datetime
    health_status: Literal["healthy", "degraded", "critical", "idle"]
    summary: SummaryFigures
    endpoints: dict[str, EndpointFigures] = Field(description='Keyed "METHOD path".')
    error_summary: dict[str, int] = Field(description="Failed requests by error code.")


class AlertEntry(BaseModel):
    type: str
    severity: Literal["warning", "critical"]
    title: str
    message: str
    timestamp: datetime
    metadata: dict[str, Any]


class AlertHistory(BaseModel):
    timestamp: datetime
    count: int
    alerts: list[AlertEntry]


class CacheFigures(BaseModel):
    size: int
    max_size: int = Field(description="0 when the cache is off (CACHE_TTL_SECONDS=0).")
    hits: int
    misses: int
    hit_rate_pct: float
    evictions: int
    default_ttl_seconds: float


class CacheReport(BaseModel):
    timestamp: datetime
    cache: CacheFigures


class QueryStats(BaseModel):
    query_type: str | None
    total: int
    successful: int
    failed: int
    error_rate_pct: float
    min_ms: float
    max_ms: float
    mean_ms: float
    median_ms: float
    p95_ms: float
    p99_ms: float
    stdev_ms: float


class Bottleneck(BaseModel):
    query_type: str
    count: int
    p95_ms: float
    mean_ms: float
    error_rate_pct: float
    reason: Literal["slow", "errors"]


class QueryPerformance(BaseModel):
    timestamp: datetime
    stats: QueryStats
    bottlenecks: list[Bottleneck] = Field(max_length=5)
    query_types: list[str]


class PerformanceFigures(BaseModel):
    total_queries: int
    successful_queries: int
    failed_queries: int
    error_rate_pct: float
    avg_duration_ms: float
    median_duration_ms: float
    p95_duration_ms: float
    p99_duration_ms: float
    window_hours: float


class PerformanceSummary(BaseModel):
    timestamp: datetime
    cache: CacheFigures
    performance: PerformanceFigures
    bottlenecks: list[Bottleneck]
    recommendations: list[str]


class Bottlenecks(BaseModel):
    timestamp: datetime
    bottlenecks: list[Bottleneck]
