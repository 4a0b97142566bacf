"""`GET /livez` and `GET /readyz`: the probes an orchestrator asks before routing traffic.

`/livez` answers as long as the process can answer at all and never touches the database (a
database outage must not get healthy workers restarted); `/readyz` says whether this worker
can serve: the database answers in time and every migration is applied (and, with REDIS_URL,
whether Redis answers, which does not decide readiness).
"""

from __future__ import annotations

import asyncio
import logging

from starlette.requests import Request
from starlette.responses import Response

from gateway.responses import OrjsonResponse
from storage.migrations import pending

log = logging.getLogger(__name__)
READY_TIMEOUT_SECONDS = 2.0


async def livez(request: Request) -> Response:
    return OrjsonResponse({"status": "alive"})


async def readyz(request: Request) -> Response:
    """200 `ready`; 503 `not_ready` with the reason (database unreachable, migrations
    pending)."""
    pool = request.app.state.database.pool
    try:
        missing = await asyncio.wait_for(pending(pool), READY_TIMEOUT_SECONDS)
    except Exception as exc:  # whatever keeps the database from answering: not ready
        log.warning("readiness: database unreachable", extra={"error": type(exc).__name__})
        return OrjsonResponse({"status": "not_ready", "database": "unreachable"}, 503)
    if missing:
        body = {"status": "not_ready", "database": "ok", "pending_migrations": missing}
        return OrjsonResponse(body, 503)
    return OrjsonResponse({"status": "ready", "database": "ok", **await _redis(request)})


async def _redis(request: Request) -> dict[str, str]:
    """`redis`: ok or unreachable (with REDIS_URL only). Not a readiness condition: without
    Redis a worker still serves, with limits counted per process."""
    link = getattr(request.app.state, "redis_link", None)
    if link is None:
        return {}
    return {"redis": "ok" if await link.ping() else "unreachable"}
