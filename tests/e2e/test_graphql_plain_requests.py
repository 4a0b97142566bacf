"""A plain JSON POST or GET answered inside the GraphQL view (gateway/graphql_view.py
`_plain`) gets exactly the answer Strawberry's own request handling gives, over real HTTP.

Two servers on one database: the gateway as it runs, and the same gateway whose view answers
every request Strawberry's way (`GraphQL.__call__` and `run`). Each generated request (plain
bodies and unusual ones; documents that run, fail to parse or validate, choose among
operations, are too costly, mutate or introspect; persisted-query hashes known, unknown, wrong
or malformed; by POST or GET, a GET with an `ETag` asked again with `If-None-Match`; three
kinds of caller) goes to both in turn, so both keep the same persisted queries, plans and
cached answers. Status, headers (the trace id aside) and body must be equal. Hypothesis runs
in a worker thread with a blocking client, so the event loop stays free for the servers.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.routing import Route
from strawberry.asgi import GraphQL

from domain.access import Scope
from gateway.app import create_app
from gateway.graphql_view import GraphQLApp
from storage import api_keys
from tests.support.databases import Database
from tests.support.gateway import settings as gateway_settings
from tests.support.live_server import serve_in_thread

CAP = 50  # bars per response: a costlier document is refused
COMPARE = settings(
    max_examples=400,
    deadline=None,
    derandomize=True,  # the same examples every run: CI stays repeatable
    suppress_health_check=[HealthCheck.too_slow],
)
NEWEST = '{ bars(ticker: "AAPL", timeframe: M1, order: DESC, limit: 2) { time open close volume } }'
DOCUMENTS = [
    NEWEST,
    "query Q($t: String!, $n: Int! = 3) { bars(ticker: $t, timeframe: M1, limit: $n) "
    "{ time close } }",
    'query A { symbol(ticker: "AAPL") { ticker } } query B { bars(ticker: "AAPL") { time } }',
    '{ a: bars(ticker: "AAPL", timeframe: M1, limit: 1) { close } b: bars(ticker: "ZZZZ") '
    "{ close } me { name } }",
    '{ bars(ticker: "AAPL", timeframe: M1, limit: 999) { close } }',  # over CAP
    '{ bars(ticker: "", timeframe: M1) { close } }',  # a resolver's error
    "{ bars(ticker: ",  # syntax
    "{ nope }",  # validation
    "{ __typename }",
    "{ apiKeys { name } }",  # admin only
    "{ __schema { queryType { name } } }",
    'mutation { setTrackedSymbolActive(symbol: "ZZZZ", active: true) { symbol } }',  # admin
    "subscription { bars { close } }",
    "",
]
OPERATION_NAMES = st.sampled_from([None, None, "Q", "A", "B", "C", ""])
VARIABLES = st.sampled_from(
    [None, None, {}, {"t": "AAPL"}, {"t": "X:BTCUSD", "n": 2}, {"t": 5}, {"n": "x"}]
)


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Sent:
    """One generated request, as a POST body or a GET query string."""

    method: str
    content: bytes  # a POST's body
    params: tuple[tuple[str, str], ...]  # a GET's parameters
    plain: bool  # of the shape the view answers itself (callers and headers aside)


@st.composite
def requests(draw: st.DrawFn) -> Sent:
    """A generated request: fields in plain and unusual forms, by POST or GET."""
    document = draw(st.sampled_from(DOCUMENTS))
    fields: dict[str, Any] = {}
    persisted = draw(st.sampled_from(["none", "none", "hash", "hash only", "wrong", "bad"]))
    if persisted != "hash only":
        fields["query"] = document
    if persisted in ("hash", "hash only"):
        version = draw(st.sampled_from([1, 1, 1, 2]))
        fields["extensions"] = {"persistedQuery": {"version": version, "sha256Hash": sha256(
            document).upper() if draw(st.booleans()) else sha256(document)}}  # fmt: skip
    elif persisted == "wrong":
        fields["extensions"] = {"persistedQuery": {"version": 1, "sha256Hash": sha256("x")}}
    elif persisted == "bad":
        fields["extensions"] = draw(st.sampled_from([
            {"persistedQuery": "x"}, {"persistedQuery": {"version": 1, "sha256Hash": "zz"}}, {}
        ]))  # fmt: skip
    if (variables := draw(VARIABLES)) is not None:
        fields["variables"] = variables
    if (name := draw(OPERATION_NAMES)) is not None:
        fields["operationName"] = name
    unusual = draw(st.sampled_from(["", "", "", "", "", "query", "variables", "text", "list"]))
    if draw(st.booleans()):
        return _get(fields, unusual)
    if unusual == "query":
        fields["query"] = 7
    elif unusual == "variables":
        fields["variables"] = [1]
    elif unusual == "text":
        return Sent("POST", b"{ not json", (), False)
    elif unusual == "list":
        return Sent("POST", json.dumps([fields]).encode(), (), False)
    return Sent("POST", json.dumps(fields).encode(), (), not unusual)


def _get(fields: dict[str, Any], unusual: str) -> Sent:
    """`fields` as GET parameters (objects as JSON), made unusual as `unusual` says."""
    params = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in fields.items()]
    if unusual == "query":
        params.insert(0, ("query", "{ first }"))  # repeated: the last counts
    elif unusual == "variables":
        params.append(("variables", "not json"))
    elif unusual == "text":
        params.append(("variables", "[1]"))
    elif unusual == "list":
        params = [(k, v) for k, v in params if k not in ("query", "extensions")]  # GraphiQL
    plain = unusual in ("", "query") and any(k in ("query", "extensions") for k, _ in params)
    return Sent("GET", b"", tuple(params), plain)


content_types = st.sampled_from(
    ["application/json", "application/json", "application/json; charset=utf-8", "text/plain"]
)
accepts = st.sampled_from([None, None, "application/json", "text/html", "multipart/mixed"])
callers = st.sampled_from(["read", "read", "admin", "none", "wrong"])


class StockView(GraphQLApp):
    """The gateway's view answering every request as Strawberry's ASGI app does."""

    __call__ = GraphQL.__call__


def stock_app(app: Starlette) -> Starlette:
    """`app` with its GraphQL view answering Strawberry's way."""
    view = next(r.app for r in app.routes if isinstance(r, Route) and r.path == "/graphql")
    assert type(view) is GraphQLApp
    view.__class__ = StockView
    return app


@pytest.fixture(scope="module")
def urls(lane_db: Database) -> Iterator[tuple[str, str]]:
    config = gateway_settings(
        lane_db,
        max_bars_per_response=CAP,
        default_rate_limit_per_minute=0,
        anonymous_rate_limit_per_minute=0,  # a window turning over between the two: unequal
        max_request_body_bytes=65_536,
    )
    with (
        serve_in_thread(create_app(config), lifespan="on") as plain,
        serve_in_thread(stock_app(create_app(config)), lifespan="on") as stock,
    ):
        yield plain, stock


def answer(response: httpx.Response) -> tuple[int, Any, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in ("x-trace-id", "date")}
    try:
        body = response.json()
    except ValueError:
        return response.status_code, response.content, headers
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        # errors of fields that resolve concurrently arrive in database-timing order
        body["errors"].sort(key=json.dumps)
        headers.pop("content-length", None)  # the same errors, another order: the same length
    return response.status_code, body, headers


async def test_a_plain_request_is_answered_as_strawberry_answers_it(
    lane_db: Database, urls: tuple[str, str]
) -> None:
    _, read = await api_keys.create_key(lane_db.pool, "reader", [Scope.READ])
    _, admin = await api_keys.create_key(lane_db.pool, "admin", [Scope.READ, Scope.ADMIN])
    keys = {"read": read, "admin": admin, "none": None, "wrong": "mg_" + "x" * 43}
    plain_url, stock_url = urls
    statuses: Counter[tuple[str, int]] = Counter()
    codes: Counter[str] = Counter()
    plain_answers: Counter[tuple[str, bool]] = Counter()

    def both(client: httpx.Client, sent: Sent, headers: dict[str, str]) -> httpx.Response:
        """`sent` to both servers: their answers must be equal."""
        answers = [
            client.request(sent.method, f"{url}/graphql", content=sent.content or None,
                           params=sent.params, headers=headers)
            for url in (plain_url, stock_url)
        ]  # fmt: skip
        assert answer(answers[0]) == answer(answers[1]), (sent, headers)
        return answers[0]

    @COMPARE
    @given(sent=requests(), content_type=content_types, accept=accepts, caller=callers)
    def compare(sent: Sent, content_type: str, accept: str | None, caller: str) -> None:
        headers = {"Content-Type": content_type} if sent.method == "POST" else {}
        if accept is not None:
            headers["Accept"] = accept
        if (key := keys[caller]) is not None:
            headers["X-API-Key"] = key
        with httpx.Client(timeout=30) as client:
            mine = both(client, sent, headers)
            if "etag" in mine.headers:  # revalidated: 304 both ways
                again = both(client, sent, headers | {"If-None-Match": mine.headers["etag"]})
                statuses[sent.method, again.status_code] += 1
        statuses[sent.method, mine.status_code] += 1
        found = mine.json() if mine.headers.get("content-type") == "application/json" else {}
        for error in found.get("errors", []) if isinstance(found, dict) else []:
            codes[error.get("extensions", {}).get("code", "")] += 1
        if isinstance(found, dict) and "code" in found:
            codes[found["code"]] += 1
        plain = (
            sent.plain
            and (sent.method == "GET" or content_type != "text/plain")
            and accept != "multipart/mixed"
            and caller in ("read", "admin")
        )
        plain_answers[sent.method, plain] += 1

    await asyncio.to_thread(compare)
    for method, status in (("POST", 200), ("POST", 400), ("POST", 401), ("POST", 415),
                           ("GET", 200), ("GET", 304), ("GET", 400), ("GET", 401)):  # fmt: skip
        assert statuses[method, status] >= 1, statuses
    assert plain_answers["POST", True] >= 25 and plain_answers["GET", True] >= 25, plain_answers
    for code in ("PERSISTED_QUERY_NOT_FOUND", "PERSISTED_QUERY_HASH_MISMATCH", "BAD_USER_INPUT",
                 "FORBIDDEN", "UNAUTHENTICATED", "UNSUPPORTED_MEDIA_TYPE"):  # fmt: skip
        assert codes[code] >= 1, (code, codes)


@pytest.mark.parametrize(
    "document",
    [NEWEST, "{ nope }", "{ bars(ticker: ", "mutation { deleteApiKey(id: 0) }"],
)
async def test_a_persisted_query_registers_and_runs_by_hash_alike(
    lane_db: Database, urls: tuple[str, str], document: str
) -> None:
    """Hash alone before registration, hash with the document, hash alone again: each answer
    (its `Cache-Control` on the unknown hash included) the same both ways."""
    _, read = await api_keys.create_key(lane_db.pool, "hasher", [Scope.READ])
    persisted = {"persistedQuery": {"version": 1, "sha256Hash": sha256(document + " ")}}
    sent = [{"extensions": persisted}, {"query": document + " ", "extensions": persisted},
            {"extensions": persisted}]  # fmt: skip
    headers = {"X-API-Key": read}
    seen = []
    async with httpx.AsyncClient(timeout=30) as client:
        for body in sent:
            mine = await client.post(f"{urls[0]}/graphql", json=body, headers=headers)
            theirs = await client.post(f"{urls[1]}/graphql", json=body, headers=headers)
            assert answer(mine) == answer(theirs), body
            seen.append(mine)
    assert seen[0].json()["errors"][0]["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND"
    assert seen[0].headers["cache-control"] == "private, no-cache, must-revalidate"
    runs = document == NEWEST
    assert ("data" in seen[2].json() and seen[2].json()["data"] is not None) == runs
    assert "cache-control" not in seen[1].headers


async def test_a_document_of_several_operations_without_a_name_is_refused_alike(
    lane_db: Database, urls: tuple[str, str]
) -> None:
    """400 with the spec's reason, by POST and GET, both ways (not the first operation run)."""
    _, read = await api_keys.create_key(lane_db.pool, "several", [Scope.READ])
    several = 'query A { symbol(ticker: "AAPL") { ticker } } query B { me { name } }'
    async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": read}) as client:
        for url in urls:
            posted = await client.post(f"{url}/graphql", json={"query": several})
            got = await client.get(f"{url}/graphql", params={"query": several})
            for refused in (posted, got):
                assert refused.status_code == 400
                assert refused.json() == {
                    "detail": "Must provide operation name if query contains multiple operations.",
                    "code": "BAD_USER_INPUT",
                }
