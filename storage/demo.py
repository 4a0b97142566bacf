"""Deterministic synthetic bars, so a newcomer sees data without a Polygon key.

Same seed, same bars, every run: stocks trade New York hours on weekdays (daily bars at New
York midnight, as Polygon labels them), crypto trades around the clock (UTC days).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from domain.tickers import trades_around_the_clock
from domain.timeframes import Timeframe
from storage.bars_write import BarIn, upsert_bars
from storage.features import RollupBackend
from storage.symbols import SymbolIn, upsert_symbols

NEW_YORK = ZoneInfo("America/New_York")
DEMO_SYMBOLS = (
    SymbolIn("AAPL", "Apple Inc.", "stocks", "us", "XNAS", "usd"),
    SymbolIn("MSFT", "Microsoft Corporation", "stocks", "us", "XNAS", "usd"),
    SymbolIn("SPY", "SPDR S&P 500 ETF Trust", "stocks", "us", "ARCX", "usd"),
    SymbolIn("X:BTCUSD", "Bitcoin - United States Dollar", "crypto", "global", None, "usd"),
    SymbolIn("X:ETHUSD", "Ethereum - United States Dollar", "crypto", "global", None, "usd"),
)
DAILY_FROM, DAILY_TO = date(2023, 1, 2), date(2024, 12, 31)
MINUTE_FROM, MINUTE_TO = date(2024, 12, 23), date(2024, 12, 31)
_START_PRICE = {
    "AAPL": 130.0,
    "MSFT": 240.0,
    "SPY": 380.0,
    "X:BTCUSD": 16_500.0,
    "X:ETHUSD": 1_200.0,
}
_HOLIDAYS = {
    date(2023, 7, 4), date(2023, 12, 25), date(2024, 1, 1), date(2024, 7, 4), date(2024, 12, 25),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class DemoReport:
    symbols: int
    daily_bars: int
    minute_bars: int


def _bar(rng: random.Random, symbol: str, t: datetime, price: float, scale: float) -> BarIn:
    drift = rng.gauss(0, 0.01 * scale)
    open_ = price
    close = max(0.01, price * (1 + drift))
    high = max(open_, close) * (1 + abs(rng.gauss(0, 0.004 * scale)))
    low = min(open_, close) * (1 - abs(rng.gauss(0, 0.004 * scale)))
    volume = float(int(rng.lognormvariate(12 if scale == 1 else 8, 0.5)))
    vwap = low + (high - low) * rng.uniform(0.3, 0.7)
    trades = max(1, int(volume / rng.uniform(80, 200)))
    o, h, lo, c = (round(x, 2) for x in (open_, high, low, close))  # prices quoted in cents
    return BarIn(symbol, t, o, h, lo, c, volume, round(vwap, 4), trades, source="demo")


def _trading_day(symbol: str, day: date) -> bool:
    return trades_around_the_clock(symbol) or (day.weekday() < 5 and day not in _HOLIDAYS)


def daily_bars(symbol: str) -> list[BarIn]:
    """Two years of daily bars, labelled at the exchange day's midnight."""
    rng = random.Random(f"daily:{symbol}")
    zone = UTC if trades_around_the_clock(symbol) else NEW_YORK
    price, bars, day = _START_PRICE[symbol], [], DAILY_FROM
    while day <= DAILY_TO:
        if _trading_day(symbol, day):
            t = datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)
            bars.append(_bar(rng, symbol, t, price, 1.0))
            price = bars[-1].close
        day += timedelta(days=1)
    return bars


def minute_bars(symbol: str, last_close: float) -> list[BarIn]:
    """A week of minute bars ending with the daily series (New York hours for stocks)."""
    rng = random.Random(f"minute:{symbol}")
    price, bars, day = last_close, [], MINUTE_FROM
    while day <= MINUTE_TO:
        if _trading_day(symbol, day):
            if trades_around_the_clock(symbol):
                start, minutes = datetime(day.year, day.month, day.day, tzinfo=UTC), 1440
            else:
                start = datetime(day.year, day.month, day.day, 9, 30, tzinfo=NEW_YORK)
                minutes = 390
            for i in range(minutes):
                t = (start + timedelta(minutes=i)).astimezone(UTC)
                bars.append(_bar(rng, symbol, t, price, 0.05))
                price = bars[-1].close
        day += timedelta(days=1)
    return bars


async def load_demo(pool: asyncpg.Pool, backend: RollupBackend) -> DemoReport:
    """Store the demo symbols and bars (idempotent: a second load changes nothing)."""
    await upsert_symbols(pool, DEMO_SYMBOLS)
    n_daily = n_minute = 0
    for symbol in (s.ticker for s in DEMO_SYMBOLS):
        daily = daily_bars(symbol)
        minutes = minute_bars(symbol, daily[-8].close)
        await upsert_bars(pool, Timeframe.D1, daily, backend)
        await upsert_bars(pool, Timeframe.M1, minutes, backend)
        n_daily, n_minute = n_daily + len(daily), n_minute + len(minutes)
    return DemoReport(len(DEMO_SYMBOLS), n_daily, n_minute)
