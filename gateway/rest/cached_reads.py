"""The route class of the REST data reads: their 200 answers get `ETag`/`Cache-Control`, and
a matching `If-None-Match` gets 304 — the same rule as GET GraphQL (gateway/http_validators.py).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response

from gateway.http_validators import with_validators


class CachedReadRoute(APIRoute):
    """An APIRoute whose answers carry HTTP validators for CACHE_TTL_SECONDS."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def with_http_validators(request: Request) -> Response:
            return validated(request, await handler(request))

        return with_http_validators


def validated(request: Request, response: Response) -> Response:
    """`response` with the validators of CACHE_TTL_SECONDS (or the 304 they call for)."""
    ttl: float = request.app.state.settings.cache_ttl_seconds
    return with_validators(request, response, ttl)
