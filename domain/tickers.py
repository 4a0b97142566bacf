"""Ticker syntax and what a ticker's prefix says about its market.

One pattern accepts every ticker form Polygon uses: stocks (`AAPL`, `BRK.B`), crypto
(`X:BTCUSD`), forex (`C:EURUSD`) and indices (`I:SPX`).
"""

from __future__ import annotations

import re
from functools import lru_cache
from types import MappingProxyType

from domain.errors import InvalidInput

TICKER_PATTERN = re.compile(r"(?:[XCI]:[A-Z0-9]{2,16}|[A-Z][A-Z0-9]{0,9}(?:[.\-][A-Z0-9]{1,4})?)")


MAX_TICKER_LENGTH = 20
_MARKET_OF_PREFIX = MappingProxyType({"X:": "crypto", "C:": "fx", "I:": "indices"})


def validate_ticker(ticker: str) -> str:
    """Return `ticker` if it is well-formed, else raise InvalidInput saying what is accepted."""
    if len(ticker) > MAX_TICKER_LENGTH or not _well_formed(ticker):
        shown = ticker[:MAX_TICKER_LENGTH] + ("…" if len(ticker) > MAX_TICKER_LENGTH else "")
        raise InvalidInput(
            f"invalid ticker {shown!r}: use upper-case symbols like AAPL, BRK.B, X:BTCUSD,"
            " C:EURUSD or I:SPX"
        )
    return ticker


@lru_cache(maxsize=4096)
def _well_formed(ticker: str) -> bool:
    """Whether a ticker of at most MAX_TICKER_LENGTH characters matches the pattern,
    remembered: a dashboard's request checks each of its tickers three times (the list, then
    each field of every symbol), and a lookup costs half a match."""
    return TICKER_PATTERN.fullmatch(ticker) is not None


def trades_around_the_clock(ticker: str) -> bool:
    """Crypto and forex days are UTC days; everything else follows the New York exchange day."""
    return ticker.startswith(("X:", "C:"))


def market_of(ticker: str) -> str:
    """Polygon's market name for a ticker, from its prefix."""
    return _MARKET_OF_PREFIX.get(ticker[:2], "stocks")
