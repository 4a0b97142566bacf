"""Synthetic bars and a Python recomputation of every rollup, to check the database against."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.tickers import trades_around_the_clock
from domain.timeframes import BASE_TIMEFRAMES, Timeframe, bucket_start
from storage.bars_write import BarIn

NEW_YORK = ZoneInfo("America/New_York")


def random_bar(rng: random.Random, symbol: str, time: datetime, price: float) -> BarIn:
    open_ = price * (1 + rng.uniform(-0.01, 0.01))
    close = price * (1 + rng.uniform(-0.01, 0.01))
    high = max(open_, close) * (1 + rng.uniform(0, 0.005))
    low = min(open_, close) * (1 - rng.uniform(0, 0.005))
    volume = round(rng.uniform(0, 5000), rng.choice([0, 3]))  # crypto volumes are fractional
    vwap = None if rng.random() < 0.1 else rng.uniform(low, high)
    trades = None if rng.random() < 0.1 else rng.randint(0, 300)
    return BarIn(symbol, time, open_, high, low, close, volume, vwap, trades)


def minute_bars(
    rng: random.Random, symbol: str, start: datetime, end: datetime, gap_chance: float = 0.2
) -> list[BarIn]:
    """1m bars in [start, end): stocks only in New York trading hours on weekdays, crypto always;
    random gaps (missing minutes) either way."""
    bars, price, t = [], rng.uniform(10, 500), start
    crypto = trades_around_the_clock(symbol)
    while t < end:
        local = t.astimezone(NEW_YORK)
        trading = crypto or (
            local.weekday() < 5 and (9, 30) <= (local.hour, local.minute) < (16, 0)
        )
        if trading and rng.random() >= gap_chance:
            bar = random_bar(rng, symbol, t, price)
            price = bar.close
            bars.append(bar)
        t += timedelta(minutes=1)
    return bars


def daily_time(symbol: str, day: date) -> datetime:
    """A daily bar's start as Polygon gives it: New York midnight for stocks, UTC for crypto."""
    zone = UTC if trades_around_the_clock(symbol) else NEW_YORK
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def daily_bars(rng: random.Random, symbol: str, first: date, last: date) -> list[BarIn]:
    bars, price, day = [], rng.uniform(10, 500), first
    crypto = trades_around_the_clock(symbol)
    while day <= last:
        if (crypto or day.weekday() < 5) and rng.random() > 0.05:  # holidays are gaps
            bar = random_bar(rng, symbol, daily_time(symbol, day), price)
            price = bar.close
            bars.append(bar)
        day += timedelta(days=1)
    return bars


@dataclass(frozen=True, slots=True)
class ExpectedBar:
    symbol: str
    time: datetime
    open: float
    high: float
    low: float
    close: float
    volume: float
    vwap: float | None
    trades: int | None
    bar_count: int


def label(symbol: str, timeframe: Timeframe, bucket: datetime) -> datetime:
    """Weekly/monthly buckets of New York symbols are labelled at New York midnight."""
    if timeframe in (Timeframe.W1, Timeframe.MO1) and not trades_around_the_clock(symbol):
        return daily_time(symbol, bucket.date())
    return bucket


def expected_rollup(
    bars: Iterable[BarIn], timeframe: Timeframe, *, labelled: bool = True
) -> list[ExpectedBar]:
    """Recompute a timeframe from base bars: the definition the database must match.

    `labelled=False` keeps weekly/monthly buckets at their UTC start, as aggregates store them.
    """
    groups: dict[tuple[str, datetime], list[BarIn]] = defaultdict(list)
    for bar in bars:
        key = bar.time if timeframe in BASE_TIMEFRAMES else bucket_start(timeframe, bar.time)
        groups[(bar.symbol, key)].append(bar)
    out = []
    for (symbol, bucket), members in sorted(groups.items()):
        members.sort(key=lambda b: b.time)
        with_vwap = [b for b in members if b.vwap is not None]
        vwap_volume = sum(b.volume for b in with_vwap)
        trades = [b.trades for b in members if b.trades is not None]
        out.append(
            ExpectedBar(
                symbol=symbol,
                time=label(symbol, timeframe, bucket) if labelled else bucket,
                open=members[0].open,
                high=max(b.high for b in members),
                low=min(b.low for b in members),
                close=members[-1].close,
                volume=sum(b.volume for b in members),
                vwap=members[0].vwap
                if timeframe in BASE_TIMEFRAMES
                else (
                    sum(b.vwap * b.volume for b in with_vwap) / vwap_volume  # type: ignore[operator,misc]
                    if with_vwap and vwap_volume
                    else None
                ),
                trades=sum(trades) if trades else None,
                bar_count=len(members),
            )
        )
    return out


def assert_bars_equal(
    actual: Sequence[object], expected: Sequence[ExpectedBar], context: object = None
) -> None:
    """Rows from fetch_bars equal the recomputation, floats to 1e-9 relative."""
    import pytest

    got = [
        ExpectedBar(
            r["symbol"], r["time"], r["open"], r["high"], r["low"], r["close"],  # type: ignore[index]
            r["volume"], r["vwap"], r["trades"], r["bar_count"],  # type: ignore[index]
        )
        for r in actual
    ]  # fmt: skip
    assert [(g.symbol, g.time) for g in got] == [(e.symbol, e.time) for e in expected], context
    for g, e in zip(got, expected, strict=True):
        assert (g.open, g.high, g.low, g.close, g.trades, g.bar_count) == (
            e.open, e.high, e.low, e.close, e.trades, e.bar_count,
        ), (g, e)  # fmt: skip
        assert g.volume == pytest.approx(e.volume, rel=1e-9, abs=1e-9), (g, e)
        if e.vwap is None:
            assert g.vwap is None, (g, e)
        else:
            assert g.vwap == pytest.approx(e.vwap, rel=1e-9), (g, e)
