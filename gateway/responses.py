"""JSON responses encoded with orjson, and the one error body of the HTTP API.

Every refusal over HTTP — authentication, rate limits, body size, malformed GraphQL requests,
REST routes — leaves as `{"detail": ..., "code": ...}` with the status of its code.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson
from starlette.responses import JSONResponse

from domain.errors import HTTP_STATUS, ErrorCode, ServiceError

ORJSON_OPTIONS = orjson.OPT_UTC_Z | orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS
NOT_JSON = "a request body must be Content-Type: application/json"  # 415, GraphQL and REST


class OrjsonResponse(JSONResponse):
    """Starlette's JSONResponse with orjson: faster, and datetimes need no conversion."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=ORJSON_OPTIONS)


def error_response(
    code: ErrorCode,
    detail: str,
    *,
    status_code: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> OrjsonResponse:
    """`{"detail", "code"}` with the status of `code` (or `status_code`, e.g. 405)."""
    status = HTTP_STATUS[code] if status_code is None else status_code
    return OrjsonResponse(
        {"detail": detail, "code": code.value}, status_code=status, headers=headers
    )


def service_error_response(
    error: ServiceError, headers: Mapping[str, str] | None = None
) -> OrjsonResponse:
    """The response for an error the service layer raised (internal ones masked)."""
    detail = "Internal server error" if error.code is ErrorCode.INTERNAL else error.message
    return error_response(error.code, detail, headers=headers)
