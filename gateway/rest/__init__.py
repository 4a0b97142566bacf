"""The REST surface of the older Market Data API (COMPAT.md), beside `/graphql`.

A FastAPI application mounted under the gateway's Starlette app: FastAPI gives request
validation and `/openapi.json` from the pydantic models, while authentication, audit, rate
limits, CORS and trace ids stay the gateway's middleware. Handlers parse, call the service
layer with a `RequestContext` and shape the answer; they never touch storage. The two bar
reads in their plain shape reach their handlers past FastAPI (gateway/rest/lane.py).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from gateway.rest import admin, data, docs, errors, observability, service
from gateway.rest.access import document_security

OPENAPI_URL = "/openapi.json"
DESCRIPTION = (
    "Market data (OHLCV bars) from marketgraph's store, fetched from Polygon.io on a miss. "
    "Send an API key as `X-API-Key` (or `Authorization: Bearer`). Errors are "
    '`{"detail": ..., "code": ...}`.'
)


def make_rest_app(assets_dir: Path | None, version: str) -> FastAPI:
    """The ASGI app to mount at the root. Give it the gateway app's state once that exists
    (`rest.state = app.state`): its handlers use what the gateway's lifespan builds."""
    app = FastAPI(
        title="marketgraph REST API",
        version=version,
        description=DESCRIPTION,
        openapi_url=OPENAPI_URL,
        docs_url=None,
        redoc_url=None,
    )
    errors.install(app)
    routers = (service.router, data.router, observability.router, admin.router)
    document_security(app, routers)
    for router in routers:
        app.include_router(router)
    app.include_router(docs.docs_router(assets_dir, OPENAPI_URL))
    return app
