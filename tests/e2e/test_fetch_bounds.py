"""Fetch-on-miss bounded per request, over a real server and the fake Polygon.

Before: one `aggregates` request fanned out to 500 upstream calls, a 1970-2030 minute range
was one unbounded upstream call, every page was held in memory at once, and bars upstream
sent outside the asked window were stored.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.fakes.polygon_server import FakePolygon, make_bars
from tests.support.databases import Database
from tests.support.live_server import gateway_settings, live_gateway, upstream_settings

AGGS = "/v2/aggs/ticker/"
MAX_SYMBOLS, MAX_CALLS = 3, 4
DAY0 = datetime(2024, 1, 1, tzinfo=UTC)
AGGREGATES = """
query ($tickers: [String!]!, $from: DateTime!, $to: DateTime!, $basis: Timeframe!) {
  aggregates(tickers: $tickers, from: $from, to: $to, basis: $basis) { ticker barCount }
}
"""
BARS = """
query ($ticker: String!, $from: DateTime!, $to: DateTime!) {
  bars(ticker: $ticker, timeframe: D1, from: $from, to: $to, limit: 1000) { time }
}
"""


@pytest.fixture
def url(portable_db: Database, fake_polygon: FakePolygon) -> Iterator[str]:
    settings = gateway_settings(
        portable_db.url,
        **upstream_settings(fake_polygon),
        fetch_max_symbols=MAX_SYMBOLS,
        fetch_max_upstream_calls=MAX_CALLS,
    )
    with live_gateway(settings) as served:
        yield served


async def ask(client: httpx.AsyncClient, url: str, query: str, **variables: Any) -> Any:
    response = await client.post(f"{url}/graphql", json={"query": query, "variables": variables})
    assert response.status_code == 200, response.text
    return response.json()


def codes(body: Any) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors") or []]


def span(days: float, start: datetime = DAY0) -> dict[str, str]:
    return {"from": start.isoformat(), "to": (start + timedelta(days=days)).isoformat()}


async def test_symbols_per_request_are_bounded_before_upstream_is_asked(
    url: str, fetching_client: httpx.AsyncClient, fake_polygon: FakePolygon
) -> None:
    tickers = [f"T{i}" for i in range(MAX_SYMBOLS + 1)]
    too_many = await ask(fetching_client, url, AGGREGATES, tickers=tickers, basis="D1", **span(5))
    assert codes(too_many) == ["BAD_USER_INPUT"], too_many
    assert f"at most {MAX_SYMBOLS}" in too_many["errors"][0]["message"]
    assert fake_polygon.count(AGGS) == 0

    at_most = await ask(
        fetching_client, url, AGGREGATES, tickers=tickers[:-1], basis="D1", **span(5)
    )
    assert codes(at_most) == [] and fake_polygon.count(AGGS) == MAX_SYMBOLS
    # only symbols with something missing count: the stored three plus one more is fine
    again = await ask(fetching_client, url, AGGREGATES, tickers=tickers, basis="D1", **span(5))
    assert codes(again) == [] and fake_polygon.count(AGGS) == MAX_SYMBOLS + 1


async def test_the_span_fetched_per_symbol_is_bounded(
    url: str, fetching_client: httpx.AsyncClient, fake_polygon: FakePolygon
) -> None:
    # the default bound: 50,000 base bars' worth of time, about 34.7 days of minutes
    too_long = await ask(
        fetching_client, url, AGGREGATES, tickers=["X:BTCUSD"], basis="M1", **span(35)
    )
    assert codes(too_long) == ["BAD_USER_INPUT"], too_long
    assert "at most 50000 1m bars' worth" in too_long["errors"][0]["message"]
    decades = {"from": "1970-01-01T00:00:00Z", "to": "2030-01-01T00:00:00Z"}
    refused = await ask(
        fetching_client, url, AGGREGATES, tickers=["X:BTCUSD"], basis="M1", **decades
    )
    assert codes(refused) == ["BAD_USER_INPUT"]
    assert fake_polygon.count(AGGS) == 0

    within = await ask(
        fetching_client, url, AGGREGATES, tickers=["X:BTCUSD"], basis="M1", **span(34)
    )
    assert codes(within) == [] and fake_polygon.count(AGGS) == 1


async def test_upstream_calls_per_request_are_counted_and_bounded(
    url: str, fetching_client: httpx.AsyncClient, fake_polygon: FakePolygon, portable_db: Database
) -> None:
    fake_polygon.add_bars("X:BTCUSD", make_bars(DAY0, 60))
    fake_polygon.behave(page_size=10)  # 60 days: six pages, four allowed
    spent = await ask(fetching_client, url, BARS, ticker="X:BTCUSD", **span(60))
    assert codes(spent) == ["BAD_USER_INPUT"], spent
    assert f"its {MAX_CALLS} upstream calls" in spent["errors"][0]["message"]
    assert fake_polygon.count(AGGS) == MAX_CALLS
    # the pages fetched are stored (page by page), but nothing is claimed covered
    assert await portable_db.pool.fetchval("SELECT count(*) FROM bars") == 10 * MAX_CALLS
    assert await portable_db.pool.fetchval("SELECT count(*) FROM coverage") == 0

    within = await ask(fetching_client, url, BARS, ticker="X:BTCUSD", **span(30))
    assert codes(within) == [] and len(within["data"]["bars"]) == 30


async def test_bars_upstream_sends_outside_the_window_are_never_stored(
    url: str, fetching_client: httpx.AsyncClient, fake_polygon: FakePolygon, portable_db: Database
) -> None:
    fake_polygon.add_bars("X:BTCUSD", make_bars(DAY0 - timedelta(days=200), 400))
    fake_polygon.behave(ignore_range=True)  # a broken upstream: every bar it has, every time
    one_day = await ask(fetching_client, url, BARS, ticker="X:BTCUSD", **span(1))
    assert codes(one_day) == [] and len(one_day["data"]["bars"]) == 1
    stored = await portable_db.pool.fetch("SELECT time FROM bars ORDER BY time")
    assert [r["time"] for r in stored] == [DAY0]


async def test_times_outside_the_supported_range_are_refused_before_fetching(
    url: str, fetching_client: httpx.AsyncClient, fake_polygon: FakePolygon
) -> None:
    for start in ("0001-01-01T00:00:00Z", "9999-12-30T00:00:00Z", "1969-12-31T00:00:00Z"):
        end = start.replace("T00", "T06")
        for query, variables in (
            (BARS, {"ticker": "X:BTCUSD"}),
            (AGGREGATES, {"tickers": ["X:BTCUSD"], "basis": "M1"}),
        ):
            body = await ask(fetching_client, url, query, **variables, **{"from": start, "to": end})
            assert codes(body) == ["BAD_USER_INPUT"], (start, body)
            assert "supported" in body["errors"][0]["message"]
    assert fake_polygon.count(AGGS) == 0
