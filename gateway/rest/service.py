"""`GET /` (what this service is and where things are) and `GET /health`; never need a key."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from gateway import health as health_check
from gateway.rest import models

router = APIRouter(tags=["service"])
ENDPOINTS = {
    "health": "/health",
    "status": "/api/v1/status",
    "metrics": "/api/v1/metrics",
    "historical": "/api/v1/historical/{symbol}",
    "symbols": "/api/v1/symbols",
    "symbols_detailed": "/api/v1/symbols/detailed",
    "bars": "/api/v1/bars",
    "admin_symbols": "/api/v1/admin/symbols",
    "admin_api_keys": "/api/v1/admin/api-keys",
    "graphql": "/graphql",
    "openapi": "/openapi.json",
}


@router.get("/", response_model=models.ServiceInfo)
async def root(request: Request) -> models.ServiceInfo:
    settings = request.app.state.settings
    return models.ServiceInfo(
        name="marketgraph",
        version=request.app.version,
        description=request.app.description,
        dashboard="/dashboard",
        docs="/docs",
        graphql="/graphql",
        authentication=models.Authentication(anonymous_reads=settings.reads_without_key()),
        endpoints=ENDPOINTS,
    )


@router.get(
    "/health",
    response_model=models.HealthReport,
    responses={503: {"model": models.HealthReport, "description": "database unreachable"}},
)
async def health(request: Request) -> Response:
    """200 `healthy`, or 503 `degraded` when the database does not answer."""
    return await health_check.health(request)
