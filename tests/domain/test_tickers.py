"""A ticker's market, from its prefix: what `Symbol.market` says of a ticker without
reference data; a ticker's check, remembered."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidInput
from domain.tickers import (
    MAX_TICKER_LENGTH,
    TICKER_PATTERN,
    _well_formed,
    market_of,
    validate_ticker,
)


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


@settings(max_examples=300)
@given(st.text(alphabet="ABXC:.-19a\n", max_size=24))
def test_a_remembered_verdict_is_the_patterns_every_time(ticker: str) -> None:
    """Tickers are checked through a memo (a dashboard's request checks each three times):
    asked twice, the answer is still the pattern's own."""
    expected = len(ticker) <= MAX_TICKER_LENGTH and TICKER_PATTERN.fullmatch(ticker) is not None
    for _ in range(2):
        try:
            validate_ticker(ticker)
        except InvalidInput:
            assert not expected
        else:
            assert expected


def test_over_long_input_is_refused_without_being_remembered() -> None:
    """The memo is bounded in entries and holds only strings of ticker length, so a client
    sending megabyte tickers cannot make it hold megabytes."""
    before = _well_formed.cache_info().currsize
    for size in (MAX_TICKER_LENGTH + 1, 1_000_000):
        with pytest.raises(InvalidInput):
            validate_ticker("A" * size)
    assert _well_formed.cache_info().currsize == before
    assert _well_formed.cache_info().maxsize is not None
