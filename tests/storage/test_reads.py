"""The read API: many symbols in one statement, windows, latest bars, and clear input errors."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta

import pytest

from domain.errors import InvalidInput
from domain.timeframes import Timeframe
from storage.bars_read import fetch_bars, latest_bars, window_summary
from storage.bars_write import BarIn, upsert_bars
from tests.support.bars import daily_bars, expected_rollup, minute_bars
from tests.support.databases import Database

T0 = datetime(2024, 5, 6, 0, tzinfo=UTC)  # a Monday


@pytest.fixture
def crypto_minutes() -> list[BarIn]:
    rng = random.Random(11)
    return [
        b
        for s in ("X:BTCUSD", "X:ETHUSD")
        for b in minute_bars(rng, s, T0, T0 + timedelta(days=2), 0.1)
    ]


async def test_bars_limit_order_and_range_per_symbol(
    portable_db: Database, crypto_minutes: list[BarIn]
) -> None:
    await upsert_bars(portable_db.pool, "1m", crypto_minutes, portable_db.backend)
    start, end = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
    rows = await fetch_bars(portable_db.pool, ["X:ETHUSD", "X:BTCUSD"], "1m", start, end, limit=5)
    assert [r["symbol"] for r in rows] == ["X:ETHUSD"] * 5 + ["X:BTCUSD"] * 5  # order kept
    assert all(start <= r["time"] < end for r in rows)
    eth = [r["time"] for r in rows[:5]]
    assert eth == sorted(eth) and eth[0] >= start
    newest = await fetch_bars(
        portable_db.pool, ["X:ETHUSD"], "1m", start, end, limit=3, order="desc"
    )
    times = [r["time"] for r in newest]
    assert times == sorted(times, reverse=True) and times[0] < end
    in_range = [b for b in crypto_minutes if b.symbol == "X:ETHUSD" and start <= b.time < end]
    assert times[0] == max(b.time for b in in_range)


async def test_unknown_symbols_give_no_rows(
    portable_db: Database, crypto_minutes: list[BarIn]
) -> None:
    await upsert_bars(portable_db.pool, "1m", crypto_minutes, portable_db.backend)
    rows = await fetch_bars(portable_db.pool, ["ZZZZ", "X:BTCUSD"], "1h", limit=1)
    assert [r["symbol"] for r in rows] == ["X:BTCUSD"]


async def test_latest_bar_per_symbol(portable_db: Database, crypto_minutes: list[BarIn]) -> None:
    await upsert_bars(portable_db.pool, "1m", crypto_minutes, portable_db.backend)
    latest = await latest_bars(portable_db.pool, ["X:BTCUSD", "X:ETHUSD", "MSFT"], "4h")
    assert set(latest) == {"X:BTCUSD", "X:ETHUSD"}
    expected = expected_rollup([b for b in crypto_minutes if b.symbol == "X:BTCUSD"], Timeframe.H4)[
        -1
    ]
    assert latest["X:BTCUSD"]["time"] == expected.time
    assert latest["X:BTCUSD"]["close"] == expected.close


@pytest.mark.parametrize(
    ("start", "end", "source"),
    [
        (T0, T0 + timedelta(days=1), Timeframe.H4),
        (T0 + timedelta(hours=1), T0 + timedelta(hours=5), Timeframe.H1),
        (T0 + timedelta(minutes=45), T0 + timedelta(hours=2), Timeframe.M15),
        (T0 + timedelta(minutes=3), T0 + timedelta(hours=2), Timeframe.M1),
    ],
)
async def test_window_summary_uses_coarsest_tiling_rollup_and_matches_base_bars(
    db: Database, crypto_minutes: list[BarIn], start: datetime, end: datetime, source: Timeframe
) -> None:
    await upsert_bars(db.pool, "1m", crypto_minutes, db.backend)
    summaries = await window_summary(db.pool, ["X:BTCUSD", "NONE"], start, end)
    assert list(summaries) == ["X:BTCUSD"]
    summary = summaries["X:BTCUSD"]
    inside = sorted(
        (b for b in crypto_minutes if b.symbol == "X:BTCUSD" and start <= b.time < end),
        key=lambda b: b.time,
    )
    assert summary.source_timeframe is source
    assert (summary.open, summary.close) == (inside[0].open, inside[-1].close)
    assert summary.high == max(b.high for b in inside) and summary.low == min(b.low for b in inside)
    assert summary.volume == pytest.approx(sum(b.volume for b in inside))
    assert summary.bar_count == len(inside)
    assert summary.trades == sum(b.trades for b in inside if b.trades is not None)
    assert summary.change == pytest.approx(inside[-1].close - inside[0].open)
    assert summary.change_percent == pytest.approx((inside[-1].close / inside[0].open - 1) * 100)


async def test_window_summary_on_daily_bars_by_month(db: Database) -> None:
    bars = daily_bars(random.Random(5), "AAPL", date(2024, 1, 1), date(2024, 3, 31))
    await upsert_bars(db.pool, "1d", bars, db.backend)
    start, end = datetime(2024, 1, 1, tzinfo=UTC), datetime(2024, 3, 1, tzinfo=UTC)
    summary = (await window_summary(db.pool, ["AAPL"], start, end, base="1d"))["AAPL"]
    inside = [b for b in bars if start <= b.time < end]
    assert summary.source_timeframe is Timeframe.MO1
    assert (summary.open, summary.close, summary.bar_count) == (
        inside[0].open,
        inside[-1].close,
        len(inside),
    )


async def test_arguments_that_shape_the_sql_text_are_refused(portable_db: Database) -> None:
    """Validation is the service layer's; these two guard the statement text itself."""
    with pytest.raises(ValueError, match="order must be"):
        await fetch_bars(portable_db.pool, ["AAPL"], "1m", order="up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown columns"):
        await fetch_bars(portable_db.pool, ["AAPL"], "1m", columns={"open; DROP TABLE bars"})
    with pytest.raises(ValueError, match="built on 1m or 1d"):
        await window_summary(portable_db.pool, ["AAPL"], T0, T0 + timedelta(1), base="1h")


@pytest.mark.parametrize(
    ("bar", "message"),
    [
        (BarIn("AAPL", T0 + timedelta(seconds=30), 1, 1, 1, 1, 1), "not on a minute"),
        (BarIn("AAPL", datetime(2024, 1, 1), 1, 1, 1, 1, 1), "no time zone"),
        (BarIn("AAPL", T0, float("nan"), 1, 1, 1, 1), "non-finite"),
        (BarIn("AAPL", T0, 1, 1, 1, 1, 1, vwap=float("inf")), "non-finite"),
        (BarIn("bad ticker", T0, 1, 1, 1, 1, 1), "invalid ticker"),
    ],
)
async def test_bad_bars_are_refused_and_nothing_is_written(
    portable_db: Database, bar: BarIn, message: str
) -> None:
    good = BarIn("MSFT", T0, 1, 2, 0.5, 1.5, 10)
    with pytest.raises(InvalidInput, match=message):
        await upsert_bars(portable_db.pool, "1m", [good, bar], portable_db.backend)
    assert await portable_db.pool.fetchval("SELECT count(*) FROM bars") == 0


async def test_duplicate_bars_in_one_write_are_refused(portable_db: Database) -> None:
    bar = BarIn("MSFT", T0, 1, 2, 0.5, 1.5, 10)
    with pytest.raises(InvalidInput, match="appears twice"):
        await upsert_bars(portable_db.pool, "1m", [bar, bar], portable_db.backend)


async def test_only_base_timeframes_are_written(portable_db: Database) -> None:
    with pytest.raises(InvalidInput, match="only base timeframes"):
        await upsert_bars(portable_db.pool, "5m", [], portable_db.backend)
