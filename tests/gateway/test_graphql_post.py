"""Plain JSON POSTs are read directly (gateway/graphql_post.py): exactly as Strawberry reads them.

Whatever `plain_post` reads must equal what Strawberry's own parsing makes of the same request;
whatever it leaves alone goes the stock way, so its answers (400s included) stay Strawberry's.
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request
from starlette.types import Message

from gateway.graphql_post import plain_post
from gateway.graphql_view import GraphQLApp, make_graphql_app
from schema import build_schema

JSON_TYPE = b"application/json"
VIEW: GraphQLApp = make_graphql_app(build_schema(), None)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=4,
)
FIELDS = st.sampled_from(["query", "variables", "operationName", "extensions", "other"])
BODIES = st.dictionaries(FIELDS, JSON | st.just("{ __typename }")) | JSON


def request(body: bytes, headers: dict[str, str], method: str = "POST") -> Request:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "method": method, "path": "/graphql", "headers": raw,
             "query_string": b""}  # fmt: skip

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return Request(scope, receive)


async def plain(body: bytes, headers: dict[str, str], method: str = "POST") -> Any:
    read = request(body, headers, method)
    return await plain_post(read, VIEW.decode_json, VIEW._get_stream_transport_from_headers)


async def stock(body: bytes, headers: dict[str, str]) -> Any:
    return await VIEW.parse_http_body(VIEW.request_adapter_class(request(body, headers)))


@given(
    body=BODIES,
    content_type=st.sampled_from(["application/json", "application/json; charset=utf-8"]),
)
async def test_what_is_read_directly_is_what_strawberry_reads(body: Any, content_type: str) -> None:
    encoded = orjson.dumps(body)
    headers = {"content-type": content_type}
    read = await plain(encoded, headers)
    if read is not None:
        assert read == await stock(encoded, headers)


async def test_the_first_content_type_counts_as_for_strawberry() -> None:
    body = orjson.dumps({"query": "{ __typename }"})
    twice = request(body, {})
    twice.scope["headers"] = [(b"content-type", b"text/plain"), (b"content-type", JSON_TYPE)]
    assert (
        await plain_post(twice, VIEW.decode_json, VIEW._get_stream_transport_from_headers) is None
    )


async def test_a_plain_query_is_read_directly() -> None:
    body = orjson.dumps({"query": "{ __typename }", "variables": {"a": 1}, "operationName": "Q"})
    read = await plain(body, {"Content-Type": "application/json", "Accept": "*/*"})
    assert read is not None and read == await stock(body, {"content-type": "application/json"})


async def test_everything_else_goes_the_stock_way() -> None:
    query = orjson.dumps({"query": "{ __typename }"})
    json = {"content-type": "application/json"}
    assert await plain(query, json, method="GET") is None
    assert await plain(query, {"content-type": "text/plain"}) is None
    assert await plain(query, {}) is None
    assert await plain(b"[" + query + b"]", json) is None  # a batch: Strawberry refuses it
    assert await plain(b"{nope", json) is None  # Strawberry's 400
    assert await plain(b'{"query": 1}', json) is None
    assert await plain(b'{"query": "{ a }", "variables": [1]}', json) is None


async def test_a_request_a_streaming_transport_takes_goes_the_stock_way() -> None:
    """(This view has no streaming transport: here is one that takes every `Accept`.)"""

    def streams(headers: Any) -> object:
        return object()

    headers = {"content-type": "application/json", "accept": "text/event-stream"}
    query = request(orjson.dumps({"query": "{ __typename }"}), headers)
    assert await plain_post(query, VIEW.decode_json, streams) is None
