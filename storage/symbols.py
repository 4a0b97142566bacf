"""Ticker syntax and reference data.

One pattern accepts every ticker form Polygon uses: stocks (`AAPL`, `BRK.B`), crypto
(`X:BTCUSD`), forex (`C:EURUSD`) and indices (`I:SPX`).
"""

from __future__ import annotations

import re

from storage.errors import InvalidInput

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
