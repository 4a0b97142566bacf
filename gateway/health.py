"""`GET /health`: is the gateway able to answer (the database is the one hard dependency)."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response

from gateway.responses import OrjsonResponse

log = logging.getLogger(__name__)
PING_TIMEOUT_SECONDS = 2.0


async def health(request: Request) -> Response:
    """200 `healthy` when the database answers a ping in time, else 503 `degraded`."""
    pool = request.app.state.database.pool
    try:
        await asyncio.wait_for(pool.fetchval("SELECT 1"), PING_TIMEOUT_SECONDS)
        database, status_code = "ok", 200
    except Exception as exc:  # any failure to answer means degraded
        log.warning("health check: database unreachable", extra={"error": type(exc).__name__})
        database, status_code = "unreachable", 503
    return OrjsonResponse(
        {
            "status": "healthy" if status_code == 200 else "degraded",
            "timestamp": datetime.now(UTC),
            "database": database,
            "rollup_backend": request.app.state.database.backend.value,
            "scheduler_running": request.app.state.scheduler.running,
        },
        status_code=status_code,
    )
