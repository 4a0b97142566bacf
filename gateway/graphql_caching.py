"""Where the response cache meets the GraphQL view: around the execution of one operation.

`cached_execution` runs inside `GraphQLApp.execute_single` (after Strawberry has read the
request, before the schema executes it): a cacheable read query is answered from the
cache or executed once for all identical requests in flight. `http_validators` adds
`Cache-Control`/`ETag` to GET answers and turns a matching `If-None-Match` into 304.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from strawberry.http import GraphQLRequestData
from strawberry.types import ExecutionResult

from domain.errors import ErrorCode
from gateway.http_validators import with_validators
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


def http_validators(request: Request, response: Response) -> Response:
    """Validators (gateway/http_validators.py) for CACHE_TTL_SECONDS on an answer the cache
    could keep."""
    if not getattr(facts(), "cacheable", False):
        return response
    return with_validators(request, response, request.app.state.settings.cache_ttl_seconds)
