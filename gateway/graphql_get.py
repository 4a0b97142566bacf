"""The common GET, read without Strawberry's general request handling: one operation by its
`query` text or a persisted-query hash in `extensions`, answered as JSON.

This is how Apollo clients send hashed queries when told to use GET (so that HTTP caches may
keep the answers). `plain_get` reads it exactly as Strawberry's `parse_query_params` and
`parse_http_body` do — the last value of a repeated parameter counts, `variables` and
`extensions` are JSON objects — and leaves every other GET to Strawberry: one that asks for
the GraphiQL page (neither `query` nor `extensions`), a streaming `Accept`, parameters that
are not JSON or not objects, which Strawberry refuses with its own 400s.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from strawberry.http import GraphQLRequestData

from gateway.graphql_post import Streams, plain_accept


def plain_get(
    request: Request, decode: Callable[[str], object], streams: Streams
) -> GraphQLRequestData | None:
    """The operation of a plain GET, or None to answer it the stock way (`decode` reads
    JSON, raising on anything else)."""
    if request.method != "GET" or not plain_accept(request.headers.get("accept", ""), streams):
        return None
    params = dict(request.query_params)  # as Strawberry reads them: the last value counts
    query = params.get("query")
    if query is None and "extensions" not in params:
        return None  # the GraphiQL page, or a request Strawberry refuses
    try:
        variables = _json_object(params.get("variables"), decode)
        extensions = _json_object(params.get("extensions"), decode)
    except ValueError:
        return None
    return GraphQLRequestData(
        query=query,
        variables=variables,
        operation_name=params.get("operationName"),
        extensions=extensions,
        protocol="http",
    )


def _json_object(text: str | None, decode: Callable[[str], object]) -> dict[str, object] | None:
    """A parameter's JSON object (None when absent); ValueError for anything else."""
    if text is None:
        return None
    try:
        value = decode(text) if text else None
    except Exception as error:  # not JSON: Strawberry's 400
        raise ValueError(text) from error
    if not isinstance(value, dict):
        raise ValueError(text)
    return value
