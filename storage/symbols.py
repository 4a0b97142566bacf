"""Ticker syntax and reference data.

One pattern accepts every ticker form Polygon uses: stocks (`AAPL`, `BRK.B`), crypto
(`X:BTCUSD`), forex (`C:EURUSD`) and indices (`I:SPX`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

from storage.errors import InvalidInput
from storage.pool import Executor

# matched whole (`fullmatch`): with `match` and `$`, "AAPL\n" would pass
TICKER_PATTERN = re.compile(r"(?:[XCI]:[A-Z0-9]{2,16}|[A-Z][A-Z0-9]{0,9}(?:[.\-][A-Z0-9]{1,4})?)")
MAX_TICKER_LENGTH = 20


def validate_ticker(ticker: str) -> str:
    """Return `ticker` if it is well-formed, else raise InvalidInput saying what is accepted."""
    if len(ticker) > MAX_TICKER_LENGTH or not TICKER_PATTERN.fullmatch(ticker):
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


async def lookup_symbols(pool: Executor, tickers: Sequence[str]) -> dict[str, SymbolInfo]:
    """Reference data of each ticker that has some, or has stored bars (one statement)."""
    rows = await pool.fetch(
        "SELECT t.ticker, s.name, s.market, s.primary_exchange, s.currency, s.active,"
        " s.ticker IS NOT NULL AS known"
        " FROM unnest($1::text[]) AS t(ticker)"
        " LEFT JOIN symbols s ON s.ticker = t.ticker"
        " WHERE s.ticker IS NOT NULL"
        "    OR EXISTS (SELECT 1 FROM bars b WHERE b.symbol = t.ticker)",
        list(tickers),
    )
    return {r["ticker"]: _info(r) for r in rows}


async def search_symbols(
    pool: Executor, search: str | None, market: str | None, first: int, after: str | None
) -> list[SymbolInfo]:
    """Stored reference data matching `search` (ticker prefix or name), ordered by ticker."""
    rows = await pool.fetch(
        "SELECT ticker, name, market, primary_exchange, currency, active, true AS known"
        " FROM symbols"
        " WHERE ($1::text IS NULL OR ticker ILIKE $1 || '%' OR name ILIKE '%' || $1 || '%')"
        "   AND ($2::text IS NULL OR market = $2)"
        "   AND ($3::text IS NULL OR ticker > $3)"
        " ORDER BY ticker LIMIT $4",
        _escape_like(search) if search else None,
        market,
        after,
        first,
    )
    return [_info(r) for r in rows]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


class SymbolInfo(NamedTuple):
    """What the API shows about a ticker."""

    ticker: str
    name: str | None
    market: str
    primary_exchange: str | None
    currency: str | None
    active: bool


def _info(row: Any) -> SymbolInfo:
    return SymbolInfo(
        row["ticker"],
        row["name"],
        row["market"] or market_of(row["ticker"]),
        row["primary_exchange"],
        row["currency"],
        True if row["active"] is None else row["active"],
    )
