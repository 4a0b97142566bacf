"""`barSeries`: the bars `bars` gives, as one array per field."""

from __future__ import annotations

from tests.resolvers.conftest import Gateway
from tests.support.graphql import make_services

FIELDS = ("time", "open", "high", "low", "close", "volume", "vwap", "trades", "barCount")
QUERY = """
query ($ticker: String!, $limit: Int) {
  bars(ticker: $ticker, timeframe: H1, from: "2024-05-06T00:00:00Z", limit: $limit, order: DESC) {
    time open high low close volume vwap trades barCount
  }
  barSeries(ticker: $ticker, timeframe: H1, from: "2024-05-06T00:00:00Z", limit: $limit,
            order: DESC) {
    ticker timeframe time open high low close volume vwap trades barCount
  }
}
"""


async def test_the_series_is_the_bars_as_columns(gateway: Gateway) -> None:
    answer = await gateway.run(QUERY, {"ticker": "X:ETHUSD", "limit": 40})
    assert not answer.errors
    bars, series = answer.data["bars"], answer.data["barSeries"]
    assert len(bars) == 40
    assert series["ticker"] == "X:ETHUSD" and series["timeframe"] == "H1"
    for name in FIELDS:
        assert series[name] == [bar[name] for bar in bars], name
    assert len(answer.statements) == 1  # same arguments, same columns: one statement for both


async def test_an_unknown_ticker_has_empty_columns(gateway: Gateway) -> None:
    answer = await gateway.run(QUERY, {"ticker": "X:NONEUSD", "limit": 5})
    assert not answer.errors
    assert all(answer.data["barSeries"][name] == [] for name in FIELDS)


async def test_the_series_counts_against_the_bars_cap(gateway: Gateway) -> None:
    capped = make_services(gateway.pool, gateway.services.backend, max_bars=79)
    query = """{ a: barSeries(ticker: "AAPL", limit: 40) { time }
                 b: barSeries(ticker: "MSFT", limit: 39) { time } }"""
    assert not (await gateway.run(query, services=capped)).errors  # 79 bars: at the cap
    over = query.replace("limit: 39", "limit: 40")
    refused = await gateway.run(over, services=capped)
    assert refused.codes == ["BAD_USER_INPUT"] and refused.statements == []
    assert refused.errors[0]["extensions"]["cost"] == 80
