"""Figures about what the store holds (status pages, symbol lists): one statement each,
whatever the number of symbols.

They read base bars (`1m`, `1d`) only: rollups are derived from them and would count twice.
"""

from __future__ import annotations

from collections.abc import Sequence

from domain.records import StoreFigures, SymbolFigures
from storage.pool import Executor
from storage.unavailable import when_unreachable

# Distinct symbols by skipping through the primary key (symbol, timeframe, time): one index
# probe per symbol instead of a scan of every bar.
_DISTINCT_SYMBOLS = """
    WITH RECURSIVE s(symbol) AS (
        (SELECT symbol FROM bars ORDER BY symbol LIMIT 1)
        UNION ALL
        SELECT (SELECT b.symbol FROM bars b WHERE b.symbol > s.symbol ORDER BY b.symbol LIMIT 1)
        FROM s WHERE s.symbol IS NOT NULL
    )
    SELECT symbol FROM s WHERE symbol IS NOT NULL
"""


@when_unreachable
async def stored_symbols(pool: Executor) -> list[str]:
    """Every symbol with stored bars, in order."""
    return [r["symbol"] for r in await pool.fetch(_DISTINCT_SYMBOLS)]


@when_unreachable
async def store_totals(pool: Executor, passing_score: float) -> StoreFigures:
    """Symbols, bars, bars scoring at least `passing_score`, gaps flagged, newest bar time."""
    (row,) = await pool.fetch(
        "SELECT count(DISTINCT symbol) AS symbols, count(*) AS records,"
        " count(*) FILTER (WHERE quality_score >= $1::real) AS validated,"
        " count(*) FILTER (WHERE gap_detected) AS gaps, max(time) AS latest FROM bars",
        passing_score,
    )
    return StoreFigures(
        row["symbols"], row["records"], row["validated"], row["gaps"], row["latest"]
    )


@when_unreachable
async def symbol_figures(
    pool: Executor, passing_score: float, symbols: Sequence[str] | None = None
) -> list[SymbolFigures]:
    """Per symbol with stored bars (only `symbols` when given), by symbol."""
    rows = await pool.fetch(
        "SELECT symbol, count(*) AS records,"
        " count(*) FILTER (WHERE quality_score >= $1::real) AS validated,"
        " count(*) FILTER (WHERE gap_detected) AS gaps, min(time) AS first,"
        " max(time) AS latest, array_agg(DISTINCT timeframe ORDER BY timeframe) AS timeframes"
        " FROM bars WHERE $2::text[] IS NULL OR symbol = ANY($2::text[])"
        " GROUP BY symbol ORDER BY symbol",
        passing_score,
        None if symbols is None else list(symbols),
    )
    return [
        SymbolFigures(
            r["symbol"],
            r["records"],
            r["validated"],
            r["gaps"],
            r["first"],
            r["latest"],
            tuple(r["timeframes"]),
        )
        for r in rows
    ]
