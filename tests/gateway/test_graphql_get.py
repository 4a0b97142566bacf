"""Plain GETs are read directly (gateway/graphql_get.py): exactly as Strawberry reads them.

Whatever `plain_get` reads must equal what Strawberry's own parsing makes of the same query
string; whatever it leaves (None) goes the stock way, so the GraphiQL page and Strawberry's
400s stay Strawberry's.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import orjson
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from gateway.graphql_get import plain_get
from gateway.graphql_view import GraphQLApp, make_graphql_app
from schema import build_schema
from tests.gateway.test_graphql_post import JSON

VIEW: GraphQLApp = make_graphql_app(build_schema(), None)
NAMES = st.sampled_from(["query", "variables", "operationName", "extensions", "other"])
VALUES = st.one_of(
    st.text(max_size=6),
    st.just("{ __typename }"),
    JSON.map(lambda value: orjson.dumps(value).decode()),
)


def request(params: list[tuple[str, str]], headers: dict[str, str] | None = None) -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    scope = {"type": "http", "method": "GET", "path": "/graphql", "headers": raw,
             "query_string": urlencode(params).encode()}  # fmt: skip
    return Request(scope)


def plain(params: list[tuple[str, str]], headers: dict[str, str] | None = None) -> Any:
    return plain_get(
        request(params, headers), VIEW.decode_json, VIEW._get_stream_transport_from_headers
    )


async def stock(params: list[tuple[str, str]]) -> Any:
    return await VIEW.parse_http_body(VIEW.request_adapter_class(request(params)))


@given(params=st.lists(st.tuples(NAMES, VALUES), max_size=5))
async def test_what_is_read_directly_is_what_strawberry_reads(
    params: list[tuple[str, str]],
) -> None:
    read = plain(params)
    if read is not None:
        assert read == await stock(params)


async def test_a_hash_or_a_query_is_read_directly() -> None:
    extensions = '{"persistedQuery": {"version": 1, "sha256Hash": "ab"}}'
    for params in (
        [("extensions", extensions)],
        [("query", "{ a }"), ("variables", '{"t": 1}'), ("operationName", "Q")],
        [("query", "{ first }"), ("query", "{ last }")],  # the last counts, as for Strawberry
    ):
        read = plain(params)
        assert read is not None and read == await stock(params), params
    assert plain([("query", "{ first }"), ("query", "{ last }")]).query == "{ last }"


def test_everything_else_goes_the_stock_way() -> None:
    assert plain([]) is None  # the GraphiQL page
    assert plain([("operationName", "Q")]) is None
    for bad in ("", "not json", "[1]", "1", '[{"a": 1}]'):
        assert plain([("query", "{ a }"), ("variables", bad)]) is None, bad
        assert plain([("extensions", bad)]) is None, bad
    assert plain([("query", "{ a }")], {"accept": "text/html"}) is not None


def test_a_request_a_streaming_transport_takes_goes_the_stock_way() -> None:
    """(This view has no streaming transport: here is one that takes every `Accept`.)"""

    def streams(headers: Any) -> object:
        return object()

    query = request([("query", "{ __typename }")], {"accept": "text/event-stream"})
    assert plain_get(query, VIEW.decode_json, streams) is None
    assert plain_get(request([("query", "{ a }")]), VIEW.decode_json, streams) is not None
