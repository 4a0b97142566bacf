"""The older API's observability and performance routes (COMPAT.md) on the REST router.

Thin: each needs the `read` scope (anonymous callers when reads are open) and returns what
gateway/observability/stats.py computes from this worker's request window, the response cache
and the alert history; the pydantic models put the shapes in `/openapi.json`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from domain.errors import InvalidInput
from gateway.observability import stats
from gateway.rest.access import Reader
from gateway.rest.errors import documented
from gateway.rest.observability_models import (
    AlertHistory,
    Bottlenecks,
    CacheReport,
    ObservabilityMetrics,
    PerformanceSummary,
    QueryPerformance,
)

MAX_ALERTS = 1000
router = APIRouter(prefix="/api/v1", tags=["observability"], responses=documented(400, 401, 403))


def _thresholds(request: Request) -> stats.Thresholds:
    thresholds: stats.Thresholds = request.app.state.thresholds
    return thresholds


def _cache(request: Request) -> dict[str, Any]:
    figures: dict[str, Any] = request.app.state.response_cache.stats()
    return figures


def _summary(request: Request) -> dict[str, Any]:
    window = request.app.state.request_window
    return stats.performance_summary(window, _thresholds(request), _cache(request))


@router.get("/observability/metrics", response_model=ObservabilityMetrics)
async def observability_metrics(request: Request, context: Reader) -> dict[str, Any]:
    """This worker's requests over the last 24 h: totals, the last hour, per endpoint."""
    return stats.observability_metrics(request.app.state.request_window, _thresholds(request))


@router.get("/observability/alerts", response_model=AlertHistory)
async def observability_alerts(
    request: Request,
    context: Reader,
    limit: Annotated[
        int,
        Query(
            description="Newest alerts to list.",
            json_schema_extra={"minimum": 1, "maximum": MAX_ALERTS},
        ),
    ] = 100,
) -> dict[str, Any]:
    """Alerts fired by this worker, newest first."""
    if not 1 <= limit <= MAX_ALERTS:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_ALERTS}, got {limit}")
    alerts = request.app.state.alerts.history(limit)
    return {"timestamp": datetime.now(UTC), "count": len(alerts), "alerts": alerts}


@router.get("/performance/cache", response_model=CacheReport)
@router.get("/performance/cache-stats", response_model=CacheReport)
async def performance_cache(request: Request, context: Reader) -> dict[str, Any]:
    """The response cache of this worker (`/cache-stats` is the older name)."""
    return {"timestamp": datetime.now(UTC), "cache": _cache(request)}


@router.get("/performance/queries", response_model=QueryPerformance)
async def performance_queries(
    request: Request,
    context: Reader,
    query_type: Annotated[
        str | None, Query(description='One endpoint, e.g. "POST /graphql:Closes".')
    ] = None,
) -> dict[str, Any]:
    """Duration spread of every request (or one endpoint's) and the worst endpoints."""
    window = request.app.state.request_window
    return stats.query_performance(window, _thresholds(request), query_type or None)


@router.get("/performance/summary", response_model=PerformanceSummary)
async def performance_summary(request: Request, context: Reader) -> dict[str, Any]:
    """Cache, request figures, bottlenecks and hints for an operator."""
    return _summary(request)


@router.get("/performance/bottlenecks", response_model=Bottlenecks)
async def performance_bottlenecks(request: Request, context: Reader) -> dict[str, Any]:
    """The `bottlenecks` of the summary."""
    summary = _summary(request)
    return {"timestamp": summary["timestamp"], "bottlenecks": summary["bottlenecks"]}
