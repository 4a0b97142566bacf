"""How much upstream work one request may cause: symbols, span per symbol, upstream calls.

Without bounds one request could fan out to hundreds of upstream calls (minutes of Polygon's
rate budget) or ask for decades of minute bars. Each bound is refused with BAD_USER_INPUT
that names the bound, before upstream is asked for more than the request may have.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta

from domain.errors import InvalidInput
from domain.timeframes import Timeframe, nominal_width


class UpstreamBudgetSpent(InvalidInput):
    """The request used up its upstream calls; what it fetched so far is stored."""


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """The bounds (settings FETCH_MAX_SYMBOLS, FETCH_MAX_BARS_PER_SYMBOL,
    FETCH_MAX_UPSTREAM_CALLS)."""

    max_symbols: int = 20
    max_bars_per_symbol: int = 50_000
    max_upstream_calls: int = 40

    def __post_init__(self) -> None:
        if min(self.max_symbols, self.max_bars_per_symbol, self.max_upstream_calls) < 1:
            raise ValueError("fetch limits must be >= 1")

    def check_span(self, symbol: str, base: Timeframe, missing: timedelta) -> None:
        """Refuse fetching more than `max_bars_per_symbol` base bars' worth of time."""
        if missing > nominal_width(base) * self.max_bars_per_symbol:
            raise InvalidInput(
                f"fetching {symbol} would ask upstream for {missing.days} days of {base.value}"
                f" bars; fetch-on-miss covers at most {self.max_bars_per_symbol} {base.value}"
                " bars' worth of time per symbol and request: ask for a shorter range"
            )


@dataclass(slots=True)
class FetchBudget:
    """One request's share of upstream work, counted as it is spent."""

    limits: FetchLimits = field(default_factory=FetchLimits)
    symbols: set[str] = field(default_factory=set)
    calls: int = 0

    def claim_symbols(self, symbols: Iterable[str]) -> None:
        """Count symbols about to be fetched; refuse past `max_symbols` for the request."""
        wanted = self.symbols | set(symbols)
        if len(wanted) > self.limits.max_symbols:
            raise InvalidInput(
                f"this request would fetch {len(wanted)} symbols from upstream; fetch-on-miss"
                f" covers at most {self.limits.max_symbols} per request: ask for fewer"
            )
        self.symbols = wanted

    def spend_call(self) -> None:
        """Count one upstream request; raise UpstreamBudgetSpent once none is left."""
        if self.calls >= self.limits.max_upstream_calls:
            raise UpstreamBudgetSpent(
                f"this request used its {self.limits.max_upstream_calls} upstream calls; what"
                " was fetched is stored: ask again for the rest, or for less"
            )
        self.calls += 1
