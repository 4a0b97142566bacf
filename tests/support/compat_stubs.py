"""Stand-ins for REST routes the dashboard reads that other branches are still building.

The observability, performance, symbols/detailed and admin tracked-symbol routes (issues 9 and
10) answer here with fixed bodies in the shapes /tmp/COMPAT.md gives, in front of the real
gateway (every other request goes to it). With them the dashboard's panels can be tested for
what they show; without them, for saying "not available". Once those routes are on main,
tests can drop this and use the real ones.
"""

from __future__ import annotations

import copy
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

NOW: Final = "2025-01-01T12:00:00Z"
METRICS: Final[dict[str, Any]] = {
    "timestamp": NOW,
    "health_status": "healthy",
    "summary": {
        "total_requests": 12_345,
        "total_errors": 37,
        "error_rate_pct": 0.3,
        "avg_response_time_ms": 12.5,
        "requests_last_hour": 1_800,
        "errors_last_hour": 6,
    },
    "endpoints": {},
    "error_summary": {},
}
QUERIES: Final[dict[str, Any]] = {
    "timestamp": NOW,
    "stats": {"query_type": None, "total": 900, "median_ms": 3.2, "p95_ms": 18.4, "p99_ms": 41.7},
    "bottlenecks": [],
    "query_types": [],
}
CACHE: Final[dict[str, Any]] = {
    "timestamp": NOW,
    "cache": {"size": 10, "max_size": 1000, "hits": 750, "misses": 250, "hit_rate_pct": 75.0},
}
ALERTS: Final[dict[str, Any]] = {
    "timestamp": NOW,
    "count": 2,
    "alerts": [
        {
            "type": "error_rate",
            "severity": "warning",
            "title": "Error rate above 5 %",
            "message": "GET /api/v1/bars failed 7 times in 100",
            "timestamp": NOW,
            "metadata": {},
        },
        {
            "type": "stale_data",
            "severity": "critical",
            "title": "Stale data",
            "message": "MSFT has no data for 80 hours",
            "timestamp": NOW,
            "metadata": {},
        },
    ],
}


def _symbol(symbol: str, records: int, rate: float, age: float, status: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "records": records,
        "validation_rate": rate,
        "latest_data": "2024-12-31T05:00:00Z",
        "data_age_hours": age,
        "timeframes": ["1d", "1h"] if symbol.startswith("X:") else ["1d"],
        "status": status,
    }


SYMBOLS: Final[dict[str, Any]] = {
    "count": 5,
    "timestamp": NOW,
    "symbols": [
        _symbol("AAPL", 2_502, 99.0, 2.0, "healthy"),
        _symbol("MSFT", 2_400, 90.0, 80.0, "stale"),
        _symbol("SPY", 2_600, 96.0, 30.0, "warning"),
        _symbol("X:BTCUSD", 11_000, 100.0, 1.0, "healthy"),
        _symbol("X:ETHUSD", 10_000, 97.5, 26.0, "warning"),
    ],
}


class CompatStubs:
    """Pure ASGI: the stub routes first, everything else (and the lifespan) to `app`."""

    def __init__(self, app: ASGIApp, admin_key: str) -> None:
        self.app = app
        self.admin_key = admin_key
        self.tracked: dict[str, dict[str, Any]] = {}
        fixed: dict[str, dict[str, Any]] = {
            "/api/v1/observability/metrics": METRICS,
            "/api/v1/observability/alerts": ALERTS,
            "/api/v1/performance/queries": QUERIES,
            "/api/v1/performance/cache": CACHE,
            "/api/v1/symbols/detailed": SYMBOLS,
        }
        self.routes = [
            *(Route(path, self._fixed(body)) for path, body in fixed.items()),
            Route("/api/v1/admin/symbols", self.list_or_track, methods=["GET", "POST"]),
            Route("/api/v1/admin/symbols/{symbol}", self.set_active, methods=["PUT"]),
            Route(
                "/api/v1/admin/symbols/{symbol}/timeframes", self.set_timeframes, methods=["PUT"]
            ),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for route in self.routes:
                match, child_scope = route.matches(scope)
                if match is Match.FULL:
                    await route.handle({**scope, **child_scope}, receive, send)
                    return
        await self.app(scope, receive, send)

    @staticmethod
    def _fixed(body: dict[str, Any]) -> Any:
        async def answer(request: Request) -> Response:
            return JSONResponse(body)

        return answer

    def _refused(self, request: Request) -> Response | None:
        if request.headers.get("x-api-key") != self.admin_key:
            return JSONResponse({"detail": "admin key needed", "code": "UNAUTHENTICATED"}, 401)
        return None

    async def list_or_track(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        if request.method == "GET":
            return JSONResponse(list(copy.deepcopy(self.tracked).values()))
        body = await request.json()
        symbol = body["symbol"].upper()
        if symbol in self.tracked:
            return JSONResponse({"detail": f"{symbol} is tracked", "code": "CONFLICT"}, 409)
        self.tracked[symbol] = {
            "id": len(self.tracked) + 1,
            "symbol": symbol,
            "asset_class": body.get("asset_class", "stock"),
            "active": True,
            "timeframes": ["1d"],
            "date_added": NOW,
            "last_backfill": None,
            "backfill_status": "pending",
        }
        return JSONResponse(self.tracked[symbol], 201)

    async def set_active(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        row = self.tracked[request.path_params["symbol"]]
        row["active"] = request.query_params["active"] == "true"
        return JSONResponse(row)

    async def set_timeframes(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        row = self.tracked[request.path_params["symbol"]]
        row["timeframes"] = sorted(set((await request.json())["timeframes"]))
        return JSONResponse(row)
