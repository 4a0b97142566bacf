"""Plain JSON POSTs are read directly (gateway/graphql_post.py): exactly as Strawberry reads them.

Whatever `plain_post` reads must equal what Strawberry's own parsing makes of the same request;
whatever it leaves alone goes the stock way, so its answers (400s included) stay Strawberry's.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import ClientDisconnect, Request
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
    """A request whose client sends `body` once, then hangs up (as a server hands it on)."""
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    scope = {"type": "http", "method": method, "path": "/graphql", "headers": raw,
             "query_string": b""}  # fmt: skip
    messages: list[Message] = [
        {"type": "http.request", "body": body, "more_body": False},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0) if len(messages) > 1 else messages[0]

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
    if isinstance(read, Request):  # the stock way, with the very body sent
        assert await read.body() == encoded
    else:
        assert read == await stock(encoded, headers)


async def test_the_first_content_type_counts_as_for_strawberry() -> None:
    body = orjson.dumps({"query": "{ __typename }"})
    twice = request(body, {})
    twice.scope["headers"] = [(b"content-type", b"text/plain"), (b"content-type", JSON_TYPE)]
    assert (
        await plain_post(twice, VIEW.decode_json, VIEW._get_stream_transport_from_headers) is twice
    )


async def test_a_plain_query_is_read_directly() -> None:
    body = orjson.dumps({"query": "{ __typename }", "variables": {"a": 1}, "operationName": "Q"})
    read = await plain(body, {"Content-Type": "application/json", "Accept": "*/*"})
    assert read == await stock(body, {"content-type": "application/json"})


async def test_everything_else_goes_the_stock_way() -> None:
    query = orjson.dumps({"query": "{ __typename }"})
    json = {"content-type": "application/json"}
    assert await stock_way(query, json, method="GET") == query
    assert await stock_way(query, {"content-type": "text/plain"}) == query
    assert await stock_way(query, {}) == query
    assert await stock_way(b"[" + query + b"]", json) == b"[" + query + b"]"  # a batch
    assert await stock_way(b"{nope", json) == b"{nope"  # Strawberry's 400
    assert await stock_way(b'{"query": 1}', json) == b'{"query": 1}'
    odd = b'{"query": "{ a }", "variables": [1]}'
    assert await stock_way(odd, json) == odd


async def stock_way(body: bytes, headers: dict[str, str], method: str = "POST") -> bytes:
    """The body the stock way reads from the request `plain_post` hands it (it must be one);
    after it, the client's own next message (here: it hung up)."""
    read = await plain(body, headers, method)
    assert isinstance(read, Request)
    whole = await read.body()
    assert await read.receive() == {"type": "http.disconnect"}
    return whole


async def test_a_body_sent_in_chunks_is_read_whole() -> None:
    chunks = [b'{"query": ', b'"{ __typename }"', b"}"]

    async def receive() -> Message:
        chunk = chunks.pop(0)
        return {"type": "http.request", "body": chunk, "more_body": bool(chunks)}

    read = request(b"", {"content-type": "application/json"})
    chunked = Request(read.scope, receive)
    plain_read = await plain_post(
        chunked, VIEW.decode_json, VIEW._get_stream_transport_from_headers
    )
    assert not isinstance(plain_read, Request) and plain_read.query == "{ __typename }"


async def test_a_client_gone_before_its_body_is_whole_is_a_disconnect() -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"query": ', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    gone = Request(request(b"", {"content-type": "application/json"}).scope, receive)
    with pytest.raises(ClientDisconnect):
        await plain_post(gone, VIEW.decode_json, VIEW._get_stream_transport_from_headers)


async def test_a_request_a_streaming_transport_takes_goes_the_stock_way() -> None:
    """(This view has no streaming transport: here is one that takes every `Accept`.)"""

    def streams(headers: Any) -> object:
        return object()

    headers = {"content-type": "application/json", "accept": "text/event-stream"}
    query = request(orjson.dumps({"query": "{ __typename }"}), headers)
    assert await plain_post(query, VIEW.decode_json, streams) is query
