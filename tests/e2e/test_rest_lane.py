"""The REST lane (gateway/rest/lane.py) answers exactly as FastAPI does, over real HTTP.

Each generated request (`/api/v1/bars` and `/api/v1/historical/{symbol}` with parameters in
plain and unusual forms, repeated, missing or unknown; with a key, a wrong key or none) is sent
twice to one server: as it is, and with one more parameter no route knows, which FastAPI
ignores and which sends the request FastAPI's way. Status, body and headers (the trace id
aside) must be the same. Hypothesis runs in a worker thread with a blocking client, so the
event loop (and its database pool) stays free while the server answers.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Iterator
from datetime import date
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.types import Message

from domain.access import Scope
from gateway.rest.lane import BARS_PARAMETERS, HISTORICAL_PARAMETERS, RestLane, plain_arguments
from storage import api_keys
from tests.support.databases import Database
from tests.support.gateway import live
from tests.support.gateway import settings as gateway_settings

CAP = 100  # bars per response: more is refused (limit=101), as a client would meet it
STOCK = ("_stock", "1")  # no route knows it: FastAPI ignores it, the lane leaves the request
COMPARE = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,  # the same examples every run: CI stays repeatable
    suppress_health_check=[HealthCheck.too_slow],
)

tickers = st.sampled_from(["AAPL", "aapl", "X:BTCUSD", "ZZZZ", "", "A B", "A" * 30, "MSFT"])
timeframes = st.sampled_from(["1d", "1d", "1w", "5m", "1h", "1m", "1mo", "2m", "1D", ""])
integers = st.one_of(
    st.integers(-3, 60).map(str), st.sampled_from(["abc", "1.5", " 7", "+3", "007", "", "101"])
)
days = st.one_of(
    st.dates(date(2023, 12, 30), date(2024, 2, 12)).map(date.isoformat),
    st.sampled_from(["2024-13-01", "2024-1-2", "20240102", "2024-01-02T00:00:00", ""]),
)
booleans = st.sampled_from(["true", "false", "True", "1", "0", "yes", "off", "maybe", ""])
qualities = st.sampled_from(["0", "0.5", "0.85", "1", "1.5", "0.9999", "-0.1", "abc", "1e-1"])
asset_classes = st.sampled_from(["stock", "crypto", "bond", ""])


def parameters(values: dict[str, st.SearchStrategy[str]]) -> st.SearchStrategy[list[Any]]:
    """Some of `values`' parameters in any order, sometimes one twice."""
    pairs = st.sampled_from(sorted(values)).flatmap(lambda n: values[n].map(lambda v: (n, v)))
    return st.lists(pairs, max_size=6)


bars_requests = st.tuples(
    st.just("/api/v1/bars"),
    parameters({"symbol": tickers, "symbols": tickers.map(lambda t: f"{t},MSFT"),
                "timeframe": timeframes, "limit": integers, "asset_class": asset_classes}),
)  # fmt: skip
historical_requests = st.tuples(
    tickers.filter(bool).map(lambda t: f"/api/v1/historical/{t}"),
    parameters({"start": days, "end": days, "timeframe": timeframes,
                "validated_only": booleans, "min_quality": qualities}),
)  # fmt: skip
plain_days = st.dates(date(2023, 12, 30), date(2024, 2, 12)).map(date.isoformat)
plain_bars = st.tuples(
    st.just("/api/v1/bars"),
    st.fixed_dictionaries({}, optional={
        "symbol": tickers, "symbols": tickers.map(lambda t: f"{t},MSFT"),
        "timeframe": timeframes, "limit": st.integers(-3, 60).map(str),
        "asset_class": asset_classes,
    }).map(lambda d: list(d.items())),
)  # fmt: skip
plain_historical = st.tuples(
    tickers.filter(bool).map(lambda t: f"/api/v1/historical/{t}"),
    st.fixed_dictionaries({"start": plain_days, "end": plain_days}, optional={
        "timeframe": timeframes, "validated_only": st.sampled_from(["true", "false"]),
        "min_quality": st.sampled_from(["0", "0.5", "0.85", "1", "1.5", "0.9999"]),
    }).map(lambda d: list(d.items())),
)  # fmt: skip
requests = st.one_of(plain_bars, plain_historical, bars_requests, historical_requests)
callers = st.sampled_from(["read", "read", "none", "wrong"])


@pytest.fixture(scope="module")
def lane_url(lane_db: Database) -> Iterator[str]:
    unlimited = {"default_rate_limit_per_minute": 0, "anonymous_rate_limit_per_minute": 0}
    with live(gateway_settings(lane_db, max_bars_per_response=CAP, **unlimited)) as url:
        yield url


def answer(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in ("x-trace-id", "date")}
    return response.status_code, response.content, headers


async def test_the_lane_answers_as_fastapi_does(lane_db: Database, lane_url: str) -> None:
    _, read = await api_keys.create_key(lane_db.pool, "reader", [Scope.READ])
    keys = {"read": {"X-API-Key": read}, "none": {}, "wrong": {"X-API-Key": "mg_" + "x" * 43}}
    statuses: Counter[int] = Counter()
    taken = Counter[bool]()

    @COMPARE
    @given(request=requests, caller=callers)
    def check(client: httpx.Client, request: tuple[str, list[Any]], caller: str) -> None:
        path, pairs = request
        laned = client.get(f"{path}?{urlencode(pairs)}", headers=keys[caller])
        stock = client.get(f"{path}?{urlencode([*pairs, STOCK])}", headers=keys[caller])
        assert answer(laned) == answer(stock), (path, pairs, caller)
        statuses[laned.status_code] += 1
        bars = path.endswith("/bars")
        plain = plain_arguments(urlencode(pairs).encode(), BARS_PARAMETERS if bars
                                else HISTORICAL_PARAMETERS)  # fmt: skip
        taken[plain is not None and (bars or {"start", "end"} <= plain.keys())] += 1

    def run() -> None:
        with httpx.Client(base_url=lane_url, timeout=30) as client:
            check(client)

    await asyncio.to_thread(run)
    assert {200, 400, 401, 404, 422} <= set(statuses), statuses  # every way out was compared
    assert taken[True] >= 50 and taken[False] >= 50, taken  # both ways were taken


PLAIN = (
    "/api/v1/bars?symbol=AAPL",
    "/api/v1/bars?symbol=AAPL&limit=5",
    "/api/v1/bars?symbols=AAPL,X:BTCUSD&timeframe=1m&limit=3",
    "/api/v1/bars?symbol=aapl&timeframe=1h&limit=2&asset_class=stock",
    "/api/v1/historical/AAPL?start=2024-01-02&end=2024-01-31",
    "/api/v1/historical/AAPL?start=2024-01-02&end=2024-01-31&validated_only=false",
    "/api/v1/historical/AAPL?start=2024-01-02&end=2024-01-31&validated_only=true&min_quality=0.4",
    "/api/v1/historical/aapl?start=2024-01-01&end=2024-02-29&timeframe=1w&validated_only=false",
    "/api/v1/historical/X:BTCUSD?start=2024-01-02&end=2024-01-02&timeframe=5m&min_quality=0.5",
)


@pytest.mark.parametrize("path", PLAIN)
async def test_plain_reads_answer_bars_as_fastapi_does(
    lane_db: Database, lane_url: str, path: str
) -> None:
    """Requests the lane takes, each parameter changing the answer, compared one by one."""
    _, read = await api_keys.create_key(lane_db.pool, "plain reader", [Scope.READ])
    async with httpx.AsyncClient(base_url=lane_url, headers={"X-API-Key": read}) as client:
        laned = await client.get(path)
        stock = await client.get(f"{path}&{urlencode([STOCK])}")
    assert laned.status_code == 200 and laned.json()["data"], laned.text
    assert answer(laned) == answer(stock)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"", {}),
        (b"symbol=AAPL&limit=5&timeframe=1m", {"symbol": "AAPL", "limit": 5, "timeframe": "1m"}),
        (b"symbols=AAPL%2CMSFT&asset_class=", {"symbols": "AAPL,MSFT", "asset_class": ""}),
        (b"symbol=a+b", {"symbol": "a b"}),  # as Starlette reads a query string
        (b"limit=-3", {"limit": -3}),
        (b"limit=1.5", None),
        (b"limit=+3", None),
        (b"limit=1234567890", None),  # past nine digits: FastAPI reads it
        (b"symbol=AAPL&symbol=MSFT", None),  # repeated
        (b"symbol=AAPL&other=1", None),  # unknown
    ],
)
def test_bars_parameters_in_their_plain_form_only(
    query: bytes, expected: dict[str, Any] | None
) -> None:
    assert plain_arguments(query, BARS_PARAMETERS) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"start=2024-01-02&end=2024-01-05",
         {"start": date(2024, 1, 2), "end": date(2024, 1, 5)}),
        (b"validated_only=false&min_quality=0.5",
         {"validated_only": False, "min_quality": 0.5}),
        (b"validated_only=true&min_quality=1", {"validated_only": True, "min_quality": 1.0}),
        (b"start=2024-13-01", None),
        (b"start=2024-1-2", None),
        (b"validated_only=True", None),
        (b"validated_only=1", None),
        (b"min_quality=1e-1", None),
        (b"min_quality=-0.1", None),
    ],
)  # fmt: skip
def test_historical_parameters_in_their_plain_form_only(
    query: bytes, expected: dict[str, Any] | None
) -> None:
    assert plain_arguments(query, HISTORICAL_PARAMETERS) == expected


async def test_an_unexpected_error_is_answered_as_internal_then_raised() -> None:
    """As FastAPI's error middleware does it: the API's JSON 500 goes out, then the error
    propagates for the server to log (here an app whose lifespan never built its services)."""
    scope = {
        "type": "http", "method": "GET", "path": "/api/v1/bars", "root_path": "",
        "query_string": b"symbol=AAPL", "headers": [], "app": Starlette(),
    }  # fmt: skip
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    with pytest.raises(AttributeError):
        await RestLane()(scope, receive, send)
    assert sent[0]["status"] == 500
    assert json.loads(sent[1]["body"])["code"] == "INTERNAL"


async def test_requests_of_another_shape_are_left_untouched() -> None:
    lane = RestLane()
    for method, path, query in [
        ("POST", "/api/v1/bars", b"symbol=AAPL"),
        ("GET", "/api/v1/bars/", b"symbol=AAPL"),
        ("GET", "/api/v1/historical/A/B", b"start=2024-01-02&end=2024-01-03"),
        ("GET", "/api/v1/historical/", b"start=2024-01-02&end=2024-01-03"),
        ("GET", "/api/v1/historical/AAPL", b"start=2024-01-02"),
        ("GET", "/api/v1/symbols", b""),
    ]:
        scope = {"type": "http", "method": method, "path": path, "query_string": query}

        async def nothing() -> Message:
            raise AssertionError("the lane read the body")

        async def refuse(message: Message) -> None:
            raise AssertionError("the lane answered")

        assert await lane(scope, nothing, refuse) is False
