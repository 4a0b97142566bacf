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
    with pytest.raises(InvalidInput) as refused:
        validation.tickers([])
    assert refused.value.message == "give at least one symbol"


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
    assert refused.value.message == (
        "a key's name must not contain control characters (NUL, line breaks)"
    )


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


def test_offset_pages_and_key_ids_are_bounded_on_both_sides() -> None:
    validation.offset_page(1, 0, 50)
    validation.offset_page(50, validation.MAX_ID, 50)
    for limit, offset, message in (
        (0, 0, "limit must be between 1 and 50, got 0"),
        (51, 0, "limit must be between 1 and 50, got 51"),
        (1, -1, f"offset must be between 0 and {validation.MAX_ID}, got -1"),
        (1, validation.MAX_ID + 1, f"offset must be between 0 and {validation.MAX_ID}, got"),
    ):
        with pytest.raises(InvalidInput) as refused:
            validation.offset_page(limit, offset, 50)
        assert refused.value.message.startswith(message)
    assert validation.key_id(1) == 1 and validation.key_id(validation.MAX_ID) == validation.MAX_ID
    for outside in (0, validation.MAX_ID + 1):
        with pytest.raises(InvalidInput, match=f"a key id is between 1 and {validation.MAX_ID}"):
            validation.key_id(outside)


def test_quality_thresholds_are_between_0_and_1() -> None:
    assert validation.quality_threshold(0.0) == 0.0 and validation.quality_threshold(1.0) == 1.0
    for outside in (-0.01, 1.01, math.nan):
        with pytest.raises(InvalidInput) as refused:
            validation.quality_threshold(outside)
        assert refused.value.message.startswith("min_quality must be between 0 and 1, got")


def test_calendar_ranges_include_both_days_and_end_before_the_last_date() -> None:
    day = datetime(2024, 1, 2).date()
    validation.date_order(day, day)
    with pytest.raises(InvalidInput) as refused:
        validation.date_order(day, day - timedelta(days=1))
    assert refused.value.message == "end (2024-01-01) must not be before start (2024-01-02)"
    last = datetime.max.date()
    validation.date_order(day, last - timedelta(days=1))
    with pytest.raises(InvalidInput, match="end must be before 9999-12-31"):
        validation.date_order(day, last)


def test_history_timeframes_are_the_older_apis_set() -> None:
    assert validation.history_timeframe("1h") is Timeframe.H1
    assert validation.history_timeframe("1w") is Timeframe.W1
    for refused_value in ("1m", "1mo", "H1", ""):
        with pytest.raises(InvalidInput) as refused:
            validation.history_timeframe(refused_value)
        assert refused.value.message == (
            f"unknown timeframe {refused_value!r}; use one of: 5m, 15m, 30m, 1h, 4h, 1d, 1w"
        )


def test_asset_classes_are_known_and_match_the_ticker() -> None:
    assert validation.asset_class("stock") == "stock"
    assert validation.asset_class("crypto", "X:BTCUSD") == "crypto"
    assert validation.asset_class("stock", "AAPL") == "stock"
    with pytest.raises(InvalidInput) as refused:
        validation.asset_class("bond")
    assert refused.value.message == "asset_class must be one of: stock, crypto"
    for value, symbol in (("crypto", "AAPL"), ("stock", "X:BTCUSD")):
        with pytest.raises(InvalidInput) as refused:
            validation.asset_class(value, symbol)
        assert refused.value.message.startswith(f"{symbol} is not a {value} ticker")


def test_tracked_timeframes_are_known_deduplicated_and_shortest_first() -> None:
    assert validation.tracked_timeframes(["1d", "1m", "1d", "5m"]) == [
        Timeframe.M1, Timeframe.M5, Timeframe.D1,
    ]  # fmt: skip
    with pytest.raises(InvalidInput) as refused:
        validation.tracked_timeframes([])
    assert refused.value.message == "give at least one timeframe"
    with pytest.raises(InvalidInput, match="unknown timeframe"):
        validation.tracked_timeframes(["1m", "7m"])
