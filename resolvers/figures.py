"""Figures about the store for status pages: totals, per-symbol health, the last backfill.

Every figure is computed by the database in a bounded number of statements, whatever the
number of symbols.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from domain.records import BackfillRun, StoreFigures, SymbolFigures
from domain.tickers import market_of
from resolvers import validation
from resolvers.context import RequestContext
from storage import store_figures
from storage.backfill_runs import last_finished_run
from storage.quality import PASSING_SCORE

STALE_HOURS = 72.0
WARNING_HOURS = 24.0
STALE_RATE_PCT = 85.0
WARNING_RATE_PCT = 95.0
_MARKET = {"stock": "stocks", "crypto": "crypto"}

Health = Literal["healthy", "warning", "stale"]


@dataclass(frozen=True, slots=True)
class SymbolHealth:
    """One symbol's figures and how fresh and clean its data is."""

    figures: SymbolFigures
    data_age_hours: float | None
    status: Health


def health_of(age_hours: float | None, validation_rate_pct: float) -> Health:
    """`stale` past 72 h or under 85 % valid, `warning` past 24 h or under 95 %, else fine."""
    if age_hours is None or age_hours > STALE_HOURS or validation_rate_pct < STALE_RATE_PCT:
        return "stale"
    if age_hours > WARNING_HOURS or validation_rate_pct < WARNING_RATE_PCT:
        return "warning"
    return "healthy"


async def totals(context: RequestContext) -> StoreFigures:
    return await context.reads.read(lambda pool: store_figures.store_totals(pool, PASSING_SCORE))


def asset_class_filter(asset_class: str) -> Callable[[str], bool]:
    """Whether a ticker is of `asset_class` (`stock` or `crypto`)."""
    market = _MARKET[validation.asset_class(asset_class)]
    return lambda ticker: market_of(ticker) == market


async def symbols(context: RequestContext, asset_class: str | None) -> list[str]:
    """Symbols with stored bars, of one asset class when given."""
    wanted = None if asset_class is None else asset_class_filter(asset_class)
    found = await context.reads.read(store_figures.stored_symbols)
    return [s for s in found if wanted is None or wanted(s)]


async def symbol_health(context: RequestContext, now: datetime) -> list[SymbolHealth]:
    figures = await context.reads.read(
        lambda pool: store_figures.symbol_figures(pool, PASSING_SCORE)
    )
    out = []
    for f in figures:
        age = None if f.latest is None else round((now - f.latest).total_seconds() / 3600, 2)
        out.append(SymbolHealth(f, age, health_of(age, f.validation_rate_pct)))
    return out


async def last_backfill(context: RequestContext) -> BackfillRun | None:
    """The newest finished scheduled backfill run, from any process."""
    return await last_finished_run(context.services.pool)
