"""Bucket alignment rules shared by Python and SQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidInput
from domain.tickers import validate_ticker
from domain.timeframes import Timeframe, base_of, bucket_start, levels_from, parse_timeframe
from storage.caggs import merged_ranges


@pytest.mark.parametrize(
    ("timeframe", "t", "start"),
    [
        (
            Timeframe.M5,
            datetime(2024, 3, 10, 7, 7, 59, tzinfo=UTC),
            datetime(2024, 3, 10, 7, 5, tzinfo=UTC),
        ),
        (
            Timeframe.H4,
            datetime(2024, 3, 10, 7, 7, tzinfo=UTC),
            datetime(2024, 3, 10, 4, tzinfo=UTC),
        ),
        (Timeframe.W1, datetime(2024, 3, 10, 23, tzinfo=UTC), datetime(2024, 3, 4, tzinfo=UTC)),
        (Timeframe.MO1, datetime(2024, 2, 29, 5, tzinfo=UTC), datetime(2024, 2, 1, tzinfo=UTC)),
    ],
)
def test_bucket_start(timeframe: Timeframe, t: datetime, start: datetime) -> None:
    assert bucket_start(timeframe, t) == start


def test_each_rollup_is_built_on_its_base_bottom_up() -> None:
    assert [r.timeframe for r in levels_from(Timeframe.M1)] == ["5m", "15m", "30m", "1h", "4h"]
    assert [r.timeframe for r in levels_from(Timeframe.D1)] == ["1w", "1mo"]
    assert base_of(Timeframe.H4) is Timeframe.M1 and base_of(Timeframe.MO1) is Timeframe.D1


def test_unknown_timeframe_lists_the_accepted_ones() -> None:
    with pytest.raises(InvalidInput, match="1m, 5m, 15m, 30m, 1h, 4h, 1d, 1w, 1mo"):
        parse_timeframe("1y")


def test_touched_times_merge_into_few_refresh_ranges() -> None:
    t = datetime(2024, 1, 1, tzinfo=UTC)
    minute = timedelta(minutes=1)
    far = t + timedelta(days=30)
    ranges = merged_ranges([t, t + minute, t + timedelta(days=3), far], minute, timedelta(days=8))
    assert ranges == [(t, t + timedelta(days=3) + minute), (far, far + minute)]


@pytest.mark.parametrize(
    "ticker", ["AAPL", "BRK.B", "X:BTCUSD", "C:EURUSD", "I:SPX", "A", "ABCDEFGHIJ"]
)
def test_valid_tickers(ticker: str) -> None:
    assert validate_ticker(ticker) == ticker


@pytest.mark.parametrize(
    "ticker",
    ["", "aapl", "AAPL;DROP", "X:", "ABCDEFGHIJK", "Q:ABC", "BRK..B", "A" * 21, "X:btcusd"],
)
def test_invalid_tickers(ticker: str) -> None:
    with pytest.raises(InvalidInput, match="invalid ticker"):
        validate_ticker(ticker)
