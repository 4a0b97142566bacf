"""Where the response cache meets the GraphQL view: around the execution of one operation.

`cached_execution` runs inside `GraphQLApp.execute_single` (after Strawberry has read the
request, before the schema executes it): a cacheable read query is answered from the
cache or executed once for all identical requests in flight. `http_validators` adds
`Cache-Control`/`ETag` to GET answers and turns a matching `If-None-Match` into 304.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from domain.errors import ErrorCode
from gateway.observability.facts import facts
from gateway.response_cache import ResponseCache
from resolvers.context import RequestContext


async def cached_execution(
    request: Request,
    context: RequestContext,
    data: GraphQLRequestData,
    execute: Callable[[], Awaitable[ExecutionResult]],
) -> ExecutionResult:
    cache: ResponseCache | None = getattr(request.app.state, "response_cache", None)
    plan = None if cache is None else cache.plan(
        data.query, data.operation_name, data.variables, context.principal
    )  # fmt: skip
    if cache is None or plan is None:
        return await execute()
    result, outcome = await cache.answer(plan, execute)
    context.operation = context.operation or plan.operation  # a hit skipped the extension
    current = facts()
    if current is not None:
        current.cache = outcome
        current.cacheable = not result.errors
    return result


def note_errors(result: ExecutionResult) -> None:
    """The codes of a result's errors, for the metrics and the access line."""
    current = facts()
    if current is None or not result.errors:
        return
    for error in result.errors:
        code = (error.extensions or {}).get("code")
        try:
            current.error_codes.append(ErrorCode(str(code)))
        except ValueError:
            current.error_codes.append(ErrorCode.INTERNAL)


def http_validators(request: Request, response: Response, max_age: float) -> Response:
    """`ETag` and `Cache-Control: private` on a GET answer the cache could keep; 304 when
    the client already has it."""
    current = facts()
    if (
        request.method != "GET"
        or response.status_code != 200
        or not getattr(current, "cacheable", False)
    ):
        return response
    etag = '"' + hashlib.blake2b(bytes(response.body), digest_size=16).hexdigest() + '"'
    headers: dict[str, Any] = {
        "ETag": etag,
        "Cache-Control": f"private, max-age={int(max_age)}",
        "Vary": "Authorization, X-API-Key",
    }
    if etag in _tags(request.headers.get("if-none-match", "")):
        return Response(status_code=304, headers=headers)
    response.headers.update(headers)
    return response


def _tags(header: str) -> set[str]:
    return {tag.strip().removeprefix("W/") for tag in header.split(",") if tag.strip()}
