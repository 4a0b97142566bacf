"""The older API's observability and performance routes (COMPAT.md), as Starlette routes.

Thin: each asks the access rule for the `read` scope (anonymous callers when ANONYMOUS_READS
is on), then returns what gateway/observability/stats.py computes from this worker's window,
the response cache and the alert history.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from domain.access import Scope
from domain.errors import InvalidInput, ServiceError
from gateway.authentication import principal_of
from gateway.observability import stats
from gateway.responses import OrjsonResponse, service_error_response
from resolvers.context import make_context

PREFIX = "/api/v1"
MAX_ALERTS = 1000
Handler = Callable[[Request], Awaitable[Response]]


def _readers_only(build: Callable[[Request], dict[str, Any]]) -> Handler:
    """A handler answering `build(request)` as JSON to callers holding `read`."""

    async def handler(request: Request) -> Response:
        try:
            make_context(request.app.state.services, principal_of(request)).require(Scope.READ)
            return OrjsonResponse(build(request))
        except ServiceError as error:
            return service_error_response(error)

    handler.__name__ = build.__name__
    handler.__doc__ = build.__doc__
    return handler


def _thresholds(request: Request) -> stats.Thresholds:
    thresholds: stats.Thresholds = request.app.state.thresholds
    return thresholds


def cache_stats(request: Request) -> dict[str, Any]:
    """The response cache's figures (`/performance/cache`)."""
    figures: dict[str, Any] = request.app.state.response_cache.stats()
    return figures


def _metrics(request: Request) -> dict[str, Any]:
    return stats.observability_metrics(request.app.state.request_window, _thresholds(request))


def _alerts(request: Request) -> dict[str, Any]:
    raw = request.query_params.get("limit", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_ALERTS:
        raise InvalidInput(f"limit must be an integer from 1 to {MAX_ALERTS}, got {raw[:20]!r}")
    alerts = request.app.state.alerts.history(int(raw))
    return {"timestamp": datetime.now(UTC), "count": len(alerts), "alerts": alerts}


def _cache(request: Request) -> dict[str, Any]:
    return {"timestamp": datetime.now(UTC), "cache": cache_stats(request)}


def _queries(request: Request) -> dict[str, Any]:
    window = request.app.state.request_window
    query_type = request.query_params.get("query_type") or None
    return stats.query_performance(window, _thresholds(request), query_type)


def _summary(request: Request) -> dict[str, Any]:
    window = request.app.state.request_window
    return stats.performance_summary(window, _thresholds(request), cache_stats(request))


def _bottlenecks(request: Request) -> dict[str, Any]:
    summary = _summary(request)
    return {"timestamp": summary["timestamp"], "bottlenecks": summary["bottlenecks"]}


def observability_routes() -> list[Route]:
    """Routes for `create_app` (the REST router may take them over)."""
    table = {
        "/observability/metrics": _metrics,
        "/observability/alerts": _alerts,
        "/performance/cache": _cache,
        "/performance/cache-stats": _cache,
        "/performance/queries": _queries,
        "/performance/summary": _summary,
        "/performance/bottlenecks": _bottlenecks,
    }
    return [
        Route(PREFIX + path, _readers_only(build), methods=["GET"]) for path, build in table.items()
    ]
