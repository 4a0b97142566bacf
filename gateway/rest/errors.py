"""REST errors leave in the API's one shape, `{"detail", "code"}`.

Service errors carry their code; request validation (a missing or malformed parameter or
body) is 422 BAD_USER_INPUT; unknown routes 404 and wrong methods 405; anything else is
masked as INTERNAL and logged with the trace id.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response
from starlette.routing import Match

from domain.errors import ErrorCode, RateLimited, ServiceError, Unauthenticated
from domain.tickers import TICKER_PATTERN
from gateway.authentication import retry_after_header
from gateway.responses import error_response, service_error_response
from gateway.rest.models import ErrorBody

log = logging.getLogger(__name__)
MAX_DETAIL = 500
_BY_STATUS = {
    404: ErrorCode.NOT_FOUND,
    413: ErrorCode.PAYLOAD_TOO_LARGE,
    415: ErrorCode.UNSUPPORTED_MEDIA_TYPE,
}
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")  # what any route of the gateway takes


# The ticker syntax (domain/tickers.py), either case, for the document only: the service
# layer checks tickers itself (400).
TICKER_SHAPE = f"^(?:{TICKER_PATTERN.pattern})$".replace("A-Z", "A-Za-z").replace("XCI", "XCIxci")


_RATE_FIELDS = {  # what a 429 carries; every answer counted carries the last two too
    "Retry-After": ("integer", "Seconds until a request is allowed again."),
    "RateLimit": ("string", 'What is left: `"key";r=0;t=12` (`r` left, `t` seconds to one more).'),
    "RateLimit-Policy": ("string", 'The quota: `"key";q=600;w=60` (`q` requests per `w` seconds).'),
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the error statuses a route may answer (all one model; a 429
    names its headers)."""
    return {status: _response(status) for status in sorted({*statuses, 422, 429, 503})}


def _response(status: int) -> dict[str, Any]:
    if status != 429:
        return {"model": ErrorBody}
    headers = {
        name: {"description": text, "schema": {"type": kind}}
        for name, (kind, text) in _RATE_FIELDS.items()
    }
    return {"model": ErrorBody, "headers": headers}


async def on_service_error(request: Request, exc: Exception) -> Response:
    if not isinstance(exc, ServiceError):  # pragma: no cover - registered for ServiceError
        raise exc
    headers: dict[str, str] = {}
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="marketgraph"'
    if isinstance(exc, RateLimited) and exc.retry_after is not None:
        headers["Retry-After"] = retry_after_header(exc.retry_after)
    if exc.code is ErrorCode.INTERNAL:
        log.error("internal error in a REST route", exc_info=exc)
    return service_error_response(exc, headers)


async def on_invalid_request(request: Request, exc: Exception) -> Response:
    """Which parameter was missing or malformed, and why, in one line."""
    errors = exc.errors() if isinstance(exc, RequestValidationError) else []
    parts = [
        f"{'.'.join(str(p) for p in error.get('loc', ()))}: {error.get('msg', 'invalid')}"
        for error in errors
    ]
    detail = ("; ".join(parts) or "invalid request")[:MAX_DETAIL]
    return error_response(ErrorCode.BAD_USER_INPUT, detail, status_code=422)


async def on_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own errors (no route, a wrong method) in the API's shape, with their headers
    (a 405's `Allow`); the gateway's own routes use it too (gateway/app.py)."""
    if not isinstance(exc, HTTPException):  # pragma: no cover - registered for HTTPException
        raise exc
    code = _BY_STATUS.get(exc.status_code, ErrorCode.BAD_USER_INPUT)
    headers = exc.headers
    if exc.status_code == 405:
        headers = {**(headers or {}), "Allow": _allowed(request)}
    return error_response(code, str(exc.detail), status_code=exc.status_code, headers=headers)


def _allowed(request: Request) -> str:
    """Every method some route of this path takes, HEAD with GET (gateway/route_lane.py).
    Starlette's 405 names only the first route's (a wrong method on /api/v1/admin/symbols did
    not name GET), and FastAPI nests included routers: each method is asked of the routes as
    the router would ask it."""
    methods = {method for method in _METHODS if _routed(request, method)}
    if "GET" in methods:
        methods.add("HEAD")
    return ", ".join(sorted(methods))


def _routed(request: Request, method: str) -> bool:
    scope = {**request.scope, "method": method}
    return any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes)


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.error("internal error in a REST route", exc_info=exc)
    return error_response(ErrorCode.INTERNAL, "Internal server error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
