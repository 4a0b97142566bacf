"""Quality flags: the rules of COMPAT.md's "Data quality fields", bar by bar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.bars_write import BarIn
from storage.quality import PASSING_SCORE, Quality, assess, assess_series

T0 = datetime(2024, 1, 5, 5, tzinfo=UTC)  # a Friday


def bar(
    open_: float = 100.0,
    close: float = 100.0,
    *,
    high: float | None = None,
    low: float | None = None,
    volume: float = 1_000.0,
    day: int = 0,
) -> BarIn:
    high = max(open_, close) + 1 if high is None else high
    low = min(open_, close) - 1 if low is None else low
    return BarIn("AAPL", T0 + timedelta(days=day), open_, high, low, close, volume)


def test_a_sound_bar_scores_one_and_has_no_notes() -> None:
    assert assess(bar(), previous_close=99.0, preceding_volumes=[1_000.0] * 20) == Quality(
        gap_detected=False, volume_anomaly=False, quality_score=1.0, validation_notes=None
    )


@pytest.mark.parametrize(
    ("open_", "gap"),
    [(110.0, False), (90.0, False), (110.01, True), (89.99, True), (150.0, True)],
)
def test_a_gap_is_an_open_more_than_ten_percent_from_the_previous_close(
    open_: float, gap: bool
) -> None:
    quality = assess(bar(open_), previous_close=100.0, preceding_volumes=[])
    assert quality.gap_detected is gap
    assert quality.passes  # a gap alone is a market event, not bad data
    if gap:
        assert quality.quality_score == 0.9
        assert quality.validation_notes is not None and "gap" in quality.validation_notes
        assert "from previous close 100" in quality.validation_notes


def test_the_first_bar_has_no_previous_close_to_gap_from() -> None:
    assert not assess(bar(500.0), previous_close=None, preceding_volumes=[]).gap_detected


def test_weekends_are_not_gaps_only_price_jumps_across_them_are() -> None:
    friday, monday_calm, monday_jump = bar(100, 101), bar(102, 103, day=3), bar(120, 121, day=3)
    assert not assess_series([friday, monday_calm])[1].gap_detected
    assert assess_series([friday, monday_jump])[1].gap_detected


@pytest.mark.parametrize(
    ("volume", "anomaly"),
    [(1_000.0, False), (10_000.0, False), (10_001.0, True), (100.0, False), (99.0, True)],
)
def test_volume_anomaly_is_beyond_ten_times_or_a_tenth_of_the_median(
    volume: float, anomaly: bool
) -> None:
    preceding = [900.0, 1_000.0, 1_100.0] * 7  # median 1,000
    quality = assess(bar(volume=volume), previous_close=100.0, preceding_volumes=preceding)
    assert quality.volume_anomaly is anomaly
    assert quality.quality_score == (0.9 if anomaly else 1.0)


def test_volume_is_not_judged_on_fewer_than_five_preceding_bars() -> None:
    assert not assess(bar(volume=1e9), 100.0, [1.0] * 4).volume_anomaly
    assert assess(bar(volume=1e9), 100.0, [1.0] * 5).volume_anomaly


def test_volume_is_judged_against_the_last_twenty_bars_only() -> None:
    history = [bar(volume=1_000_000.0) for _ in range(25)] + [bar(volume=10.0) for _ in range(20)]
    quality = assess_series([bar(volume=50.0)], context=history)[0]
    assert not quality.volume_anomaly  # 5x the recent median of 10, not 1/20000 of the old one


def test_an_illiquid_stretch_with_zero_median_volume_gives_no_verdict() -> None:
    assert not assess(bar(volume=500.0), 100.0, [0.0] * 20).volume_anomaly


@pytest.mark.parametrize(
    ("candidate", "note"),
    [
        (bar(100, 100, high=99, low=101), "high 99 below low 101"),
        (bar(100, 105, high=104, low=99), "close 105 outside low-high 99-104"),
        (bar(98, 100, high=101, low=99), "open 98 outside low-high 99-101"),
    ],
)
def test_inconsistent_ohlc_fails_validation_and_says_why(candidate: BarIn, note: str) -> None:
    quality = assess(candidate, previous_close=None, preceding_volumes=[])
    assert quality.quality_score == 0.5
    assert not quality.passes
    assert quality.validation_notes == f"ohlc: {note}"


def test_negative_volume_fails_validation() -> None:
    quality = assess(bar(volume=-1.0), previous_close=None, preceding_volumes=[])
    assert quality.quality_score == 0.5 and not quality.passes
    assert quality.validation_notes == "negative volume -1"


def test_scores_add_up_and_never_go_below_zero() -> None:
    gap_and_spike = assess(bar(150.0, volume=1e6), 100.0, [1_000.0] * 20)
    assert (gap_and_spike.gap_detected, gap_and_spike.volume_anomaly) == (True, True)
    assert gap_and_spike.quality_score == 0.8 < PASSING_SCORE
    notes = gap_and_spike.validation_notes or ""
    assert notes.startswith("gap:") and "; volume anomaly:" in notes
    hopeless = assess(bar(150.0, 100, high=90, low=95, volume=-5), 100.0, [1.0] * 20)
    assert hopeless.quality_score == 0.0


def test_a_series_continues_from_its_context() -> None:
    context = [bar(100, 100 + i, volume=1_000.0, day=i) for i in range(10)]  # last close 109
    fresh = [bar(130, 131, volume=1_000.0, day=10), bar(131, 132, volume=50_000.0, day=11)]
    first, second = assess_series(fresh, context)
    assert first.gap_detected and not first.volume_anomaly  # 130 vs 109: +19 %
    assert second.volume_anomaly and not second.gap_detected  # 50x the median
    assert [q.gap_detected for q in assess_series(fresh)] == [False, False]


prices = st.floats(min_value=1, max_value=200, allow_nan=False)
volumes = st.one_of(st.just(0.0), st.floats(min_value=0, max_value=1e7, allow_nan=False))


@st.composite
def bars(draw: st.DrawFn) -> BarIn:
    o, c, h, lo = draw(prices), draw(prices), draw(prices), draw(prices)
    return BarIn("AAPL", T0, o, h, lo, c, draw(volumes))


@given(st.lists(bars(), max_size=40), st.lists(bars(), max_size=30))
def test_a_series_judges_each_bar_on_what_precedes_it(
    series: list[BarIn], context: list[BarIn]
) -> None:
    history = [*context, *series]
    naive = [
        assess(
            bar,
            history[len(context) + i - 1].close if len(context) + i else None,
            [b.volume for b in history[: len(context) + i]],
        )
        for i, bar in enumerate(series)
    ]
    assert assess_series(series, context) == naive
