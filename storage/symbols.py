"""Ticker syntax and reference data.

One pattern accepts every ticker form Polygon uses: stocks (`AAPL`, `BRK.B`), crypto
(`X:BTCUSD`), forex (`C:EURUSD`) and indices (`I:SPX`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from domain.records import SymbolInfo
from domain.tickers import market_of, validate_ticker
from domain.timeframes import BASE_TIMEFRAMES
from storage.pool import Executor
from storage.unavailable import idempotent_read


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


# Whether a ticker has stored bars: its newest bar of each base timeframe, read down the primary
# key. `EXISTS (SELECT 1 FROM bars WHERE symbol = ...)` let the planner pick a sequential scan,
# expecting a match within a few rows (it counts each symbol for an equal share of the table);
# for a ticker with no bars it read the whole table: 17 ms over 250,000 bars of 50 symbols,
# 200 ms for a lookup of those 50 (their bars stored symbol after symbol). Only the index yields
# a newest bar without sorting, so this form always probes it; on a hypertable the newest
# chunks come first.
_HAS_BARS = " OR ".join(
    f"(SELECT b.time FROM bars b WHERE b.symbol = t.ticker AND b.timeframe = '{tf.value}'"
    " ORDER BY b.time DESC LIMIT 1) IS NOT NULL"
    for tf in BASE_TIMEFRAMES
)
LOOKUP_SQL = (
    "SELECT t.ticker, s.name, s.market, s.primary_exchange, s.currency, s.active,"
    " s.ticker IS NOT NULL AS known"
    " FROM unnest($1::text[]) AS t(ticker)"
    " LEFT JOIN symbols s ON s.ticker = t.ticker"
    f" WHERE s.ticker IS NOT NULL OR {_HAS_BARS}"
)


@idempotent_read
async def lookup_symbols(pool: Executor, tickers: Sequence[str]) -> dict[str, SymbolInfo]:
    """Reference data of each ticker that has some, or has stored bars (one statement)."""
    rows = await pool.fetch(LOOKUP_SQL, list(tickers))
    return {r["ticker"]: _info(r) for r in rows}


@idempotent_read
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


def _info(row: Any) -> SymbolInfo:
    return SymbolInfo(
        row["ticker"],
        row["name"],
        row["market"] or market_of(row["ticker"]),
        row["primary_exchange"],
        row["currency"],
        True if row["active"] is None else row["active"],
    )
