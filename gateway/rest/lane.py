"""The two bar reads of the REST API answered without FastAPI's request handling.

For every request FastAPI matches the path through its nested routers, solves the route's
dependencies and validates each query parameter through pydantic: 1.9M instructions for a
1-bar `/api/v1/bars`, where the same read over GraphQL takes 0.9M. `RestLane` takes the
requests clients send most, `GET /api/v1/bars` and `GET /api/v1/historical/{symbol}` in
their plain shape (each parameter the route knows given once, in its canonical form: decimal
integers, `YYYY-MM-DD` dates, `true`/`false`), and calls the route's own function with the
context the route's dependency builds, answering its errors with the REST app's own handlers.
Anything else (an unknown, repeated or unusual parameter, a missing required one, another
method or path) goes to FastAPI, which answers it as it always did, 422s included.
tests/e2e/test_rest_lane.py compares both ways on generated requests.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import date
from typing import Any
from urllib.parse import parse_qsl

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from domain.errors import ServiceError
from gateway.rest import data
from gateway.rest.access import Guard, guard_of
from gateway.rest.cached_reads import validated
from gateway.rest.errors import on_invalid_request, on_service_error, on_unexpected

BARS = "/api/v1/bars"
HISTORICAL = "/api/v1/historical/"
_INTEGER = re.compile(r"-?[0-9]{1,9}")
_DECIMAL = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,12})?")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_BOOLEANS = {"true": True, "false": False}


def _integer(value: str) -> int | None:
    return int(value) if _INTEGER.fullmatch(value) else None


def _decimal(value: str) -> float | None:
    return float(value) if _DECIMAL.fullmatch(value) else None


def _day(value: str) -> date | None:
    if not _DAY.fullmatch(value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:  # 2024-13-01: FastAPI says what is wrong with it
        return None


def _boolean(value: str) -> bool | None:
    return _BOOLEANS.get(value)


Parser = Callable[[str], Any]
BARS_PARAMETERS: Mapping[str, Parser] = {
    "symbol": str, "symbols": str, "timeframe": str, "limit": _integer, "asset_class": str,
}  # fmt: skip
HISTORICAL_PARAMETERS: Mapping[str, Parser] = {
    "start": _day, "end": _day, "timeframe": str, "validated_only": _boolean,
    "min_quality": _decimal,
}  # fmt: skip
_HISTORICAL_REQUIRED = frozenset({"start", "end"})


def plain_arguments(query: bytes, parsers: Mapping[str, Parser]) -> dict[str, Any] | None:
    """The query's arguments when each is a known parameter, given once, in its canonical
    form (read as Starlette reads a query string); None for FastAPI to read."""
    arguments: dict[str, Any] = {}
    for name, raw in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        parser = parsers.get(name)
        if parser is None or name in arguments:
            return None
        value = parser(raw)
        if value is None:
            return None
        arguments[name] = value
    return arguments


class RestLane:
    """`await lane(scope, receive, send)`: True when the lane answered the request, False
    when it is left to the REST app (nothing sent, nothing read)."""

    def __init__(self) -> None:
        self._bars = _route(BARS)
        self._historical = _route(HISTORICAL + "{symbol}")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> bool:
        if scope["type"] != "http" or scope["method"] != "GET" or scope.get("root_path"):
            return False
        path: str = scope["path"]
        if path == BARS:
            arguments = plain_arguments(scope["query_string"], BARS_PARAMETERS)
            (route, guard), path_params = self._bars, {}
        elif (
            path.startswith(HISTORICAL)
            and (symbol := path[len(HISTORICAL) :])  # Starlette's `{symbol}`: one segment
            and "/" not in symbol
        ):
            arguments = plain_arguments(scope["query_string"], HISTORICAL_PARAMETERS)
            if arguments is not None and not arguments.keys() >= _HISTORICAL_REQUIRED:
                arguments = None
            (route, guard), path_params = self._historical, {"symbol": symbol}
        else:
            return False
        if arguments is None:
            return False
        scope["route"], scope["endpoint"] = route, route.endpoint
        scope["path_params"] = path_params
        request = Request(scope, receive)
        await _answer(request, route, guard, {**path_params, **arguments}, send)
        return True


async def _answer(
    request: Request, route: APIRoute, guard: Guard, arguments: dict[str, Any], send: Send
) -> None:
    """What FastAPI does with the route: its guard (`requires`), its function, its validators
    (gateway/rest/cached_reads.py), and the REST app's error handlers; an unexpected error is
    answered as INTERNAL, then raised, as FastAPI does."""
    scope, receive = request.scope, request.receive
    endpoint: Callable[..., Awaitable[Response]] = route.endpoint
    try:
        context = await guard(request)
        response = validated(request, await endpoint(context, **arguments))
    except ServiceError as error:
        response = await on_service_error(request, error)
    except RequestValidationError as error:
        response = await on_invalid_request(request, error)
    except Exception as error:
        await (await on_unexpected(request, error))(scope, receive, send)
        raise
    await response(scope, receive, send)


def _route(path: str) -> tuple[APIRoute, Guard]:
    """The data router's route of `path` (the audit trail and the metrics name it) and the
    guard its `Reader` parameter declares."""
    (route,) = [r for r in data.router.routes if isinstance(r, APIRoute) and r.path == path]
    guard = guard_of(route)
    if guard is None:
        raise RuntimeError(f"{path} has no `requires` guard: the lane would skip its check")
    return route, guard
