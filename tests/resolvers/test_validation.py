"""Input validation, once, in the service layer: each limit accepted at it, refused past it."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from domain.access import Scope
from domain.errors import ErrorCode, InvalidInput
from domain.timeframes import Timeframe
from resolvers import validation

T0 = datetime(2024, 5, 6, tzinfo=UTC)


def test_tickers_are_deduplicated_in_order_and_bounded() -> None:
    assert validation.tickers(["MSFT", "AAPL", "MSFT"]) == ["MSFT", "AAPL"]
    at_limit = [f"S{i}" for i in range(validation.MAX_SYMBOLS)]
    assert validation.tickers(at_limit) == at_limit
    with pytest.raises(InvalidInput, match="at most 500 symbols"):
        validation.tickers([*at_limit, "ONEMORE"])
    with pytest.raises(InvalidInput, match="at least one symbol"):
        validation.tickers([])


@pytest.mark.parametrize("ticker", ["aapl", "AAPL\n", "X:", "TOOLONGTICKERNAME", "A B", ""])
def test_malformed_tickers_are_refused(ticker: str) -> None:
    with pytest.raises(InvalidInput, match="invalid ticker") as refused:
        validation.ticker(ticker)
    assert refused.value.code is ErrorCode.BAD_USER_INPUT


@pytest.mark.parametrize("ticker", ["AAPL", "BRK.B", "X:BTCUSD", "C:EURUSD", "I:SPX"])
def test_every_polygon_ticker_form_is_accepted(ticker: str) -> None:
    assert validation.ticker(ticker) == ticker


def test_ranges_need_zones_and_order() -> None:
    validation.time_range(None, None)
    validation.time_range(T0, T0 + timedelta(microseconds=1))
    with pytest.raises(InvalidInput, match="must be after start"):
        validation.time_range(T0, T0)
    with pytest.raises(InvalidInput, match="time zone"):
        validation.time_range(datetime(2024, 1, 1), None)
    with pytest.raises(InvalidInput, match="a summary needs both start and end"):
        validation.bounded_range(T0, None, "a summary")
    outside = ((T0.replace(year=1969), None, "start"), (None, T0.replace(year=2201), "end"))
    for start, end, named in outside:
        with pytest.raises(InvalidInput) as refused:  # outside the supported range: says which
            validation.time_range(start, end)
        assert refused.value.message.startswith(named), refused.value.message


def test_limit_is_bounded_on_both_sides() -> None:
    assert validation.limit(1, 10) == 1 and validation.limit(10, 10) == 10
    for outside in (0, 11):
        with pytest.raises(InvalidInput, match="between 1 and 10"):
            validation.limit(outside, 10)


def test_page_size_and_search_text_are_bounded() -> None:
    assert validation.page_size(validation.MAX_SEARCH_RESULTS) == validation.MAX_SEARCH_RESULTS
    with pytest.raises(InvalidInput):
        validation.page_size(validation.MAX_SEARCH_RESULTS + 1)
    with pytest.raises(InvalidInput):
        validation.page_size(0)
    longest = "a" * validation.MAX_SEARCH_LENGTH
    assert validation.search_text(longest) == longest
    refusals = {
        "": "search must be 1 to 100 characters",
        longest + "a": "search must be 1 to 100 characters",
        "app\x00le": "search must not contain NUL characters",
    }
    for bad, message in refusals.items():  # each refusal says what is accepted
        with pytest.raises(InvalidInput) as refused:
            validation.search_text(bad)
        assert refused.value.message == message


def test_basis_is_a_base_timeframe() -> None:
    assert validation.basis("1m") is Timeframe.M1 and validation.basis(Timeframe.D1) is Timeframe.D1
    with pytest.raises(InvalidInput, match="basis must be M1"):
        validation.basis(Timeframe.H1)
    with pytest.raises(InvalidInput, match="unknown timeframe"):
        validation.basis("2m")


def test_key_names_are_bounded_on_both_sides_once_trimmed() -> None:
    longest = "k" * validation.MAX_KEY_NAME
    assert validation.key_name(" a ") == "a" and validation.key_name(longest) == longest
    for bad in ("", "   ", longest + "k"):
        with pytest.raises(InvalidInput) as refused:
            validation.key_name(bad)
        assert refused.value.message == "a key's name must be 1 to 100 characters"
    with pytest.raises(InvalidInput) as refused:
        validation.key_name("two\nlines")
    assert "control characters" in refused.value.message


def test_key_rate_limits_are_finite_and_bounded_on_both_sides() -> None:
    assert validation.key_rate_limit(None) is None
    for accepted in (validation.MIN_KEY_RATE, validation.MAX_KEY_RATE, 60.0):
        assert validation.key_rate_limit(accepted) == accepted
    for refused_value in (0.0099, validation.MAX_KEY_RATE + 1, 1e300, math.inf, math.nan, -1.0):
        with pytest.raises(InvalidInput) as refused:
            validation.key_rate_limit(refused_value)
        assert refused.value.message.startswith(
            "rate_limit_per_minute must be between 0.01 and 1000000"
        )


def test_key_scopes_are_known_and_never_empty() -> None:
    assert validation.key_scopes(["read", Scope.ADMIN]) == {Scope.READ, Scope.ADMIN}
    with pytest.raises(InvalidInput) as refused:
        validation.key_scopes(["read", "write"])
    assert refused.value.message == "unknown scope 'write': use read, fetch, admin"
    with pytest.raises(InvalidInput) as refused:
        validation.key_scopes([])
    assert refused.value.message == "a key needs at least one scope (leave scopes out for read)"


def test_key_expiry_needs_a_time_zone() -> None:
    assert validation.key_expiry(None) is None and validation.key_expiry(T0) == T0
    with pytest.raises(InvalidInput) as refused:
        validation.key_expiry(datetime(2030, 1, 1))
    assert refused.value.message == "expires_at needs a time zone (use UTC)"
