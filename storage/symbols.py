"""Ticker syntax and reference data.

One pattern accepts every ticker form Polygon uses: stocks (`AAPL`, `BRK.B`), crypto
(`X:BTCUSD`), forex (`C:EURUSD`) and indices (`I:SPX`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from storage.errors import InvalidInput
from storage.pool import Executor

TICKER_PATTERN = re.compile(r"^(?:[XCI]:[A-Z0-9]{2,16}|[A-Z][A-Z0-9]{0,9}(?:[.\-][A-Z0-9]{1,4})?)$")
MAX_TICKER_LENGTH = 20


def validate_ticker(ticker: str) -> str:
    """Return `ticker` if it is well-formed, else raise InvalidInput saying what is accepted."""
    if len(ticker) > MAX_TICKER_LENGTH or not TICKER_PATTERN.match(ticker):
        shown = ticker[:MAX_TICKER_LENGTH] + ("…" if len(ticker) > MAX_TICKER_LENGTH else "")
        raise InvalidInput(
            f"invalid ticker {shown!r}: use upper-case symbols like AAPL, BRK.B, X:BTCUSD,"
            " C:EURUSD or I:SPX"
        )
    return ticker


def trades_around_the_clock(ticker: str) -> bool:
    """Crypto and forex days are UTC days; everything else follows the New York exchange day."""
    return ticker.startswith(("X:", "C:"))


def market_of(ticker: str) -> str:
    """Polygon's market name for a ticker, from its prefix."""
    return {"X:": "crypto", "C:": "fx", "I:": "indices"}.get(ticker[:2], "stocks")


async def upsert_symbols(pool: Executor, rows: Sequence[SymbolIn]) -> None:
    """Store reference data for tickers, replacing what was there."""
    for row in rows:
        validate_ticker(row.ticker)
    await pool.executemany(
        "INSERT INTO symbols (ticker, name, market, locale, primary_exchange, currency, active)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)"
        " ON CONFLICT (ticker) DO UPDATE SET name = EXCLUDED.name, market = EXCLUDED.market,"
        " locale = EXCLUDED.locale, primary_exchange = EXCLUDED.primary_exchange,"
        " currency = EXCLUDED.currency, active = EXCLUDED.active, updated_at = now()",
        [tuple(r) for r in rows],
    )


class SymbolIn(NamedTuple):
    """Reference data for one ticker."""

    ticker: str
    name: str | None
    market: str
    locale: str | None = None
    primary_exchange: str | None = None
    currency: str | None = None
    active: bool = True
