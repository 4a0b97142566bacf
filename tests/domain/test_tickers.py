"""A ticker's market, from its prefix: what `Symbol.market` says of a ticker without
reference data."""

from __future__ import annotations

import pytest

from domain.tickers import market_of


@pytest.mark.parametrize(
    ("ticker", "market"),
    [
        ("X:BTCUSD", "crypto"),
        ("C:EURUSD", "fx"),
        ("I:SPX", "indices"),
        ("AAPL", "stocks"),
        ("BRK.B", "stocks"),
        ("X", "stocks"),  # one letter: no prefix to read
    ],
)
def test_the_prefix_names_the_market(ticker: str, market: str) -> None:
    assert market_of(ticker) == market
