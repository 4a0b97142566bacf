"""Every user input is checked here, once, before any storage or upstream call.

GraphQL fields, REST handlers, the CLI and the read-through service all pass their arguments
through these functions; storage then trusts what it is given. Each refusal is an
`InvalidInput` (BAD_USER_INPUT) whose message says what is accepted.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import get_args

from domain.access import Scope
from domain.errors import InvalidInput
from domain.records import AssetClass
from domain.tickers import validate_ticker
from domain.time_range import check_bound
from domain.timeframes import BASE_TIMEFRAMES, Timeframe, parse_timeframe

MAX_SYMBOLS = 500
MAX_SEARCH_RESULTS = 500
MAX_SEARCH_LENGTH = 100
MAX_AUDIT_PAGE = 1000
MAX_ID = 2**63 - 1  # PostgreSQL bigint
HISTORY_TIMEFRAMES = (
    Timeframe.M5, Timeframe.M15, Timeframe.M30, Timeframe.H1, Timeframe.H4, Timeframe.D1,
    Timeframe.W1,
)  # fmt: skip
ASSET_CLASSES: tuple[AssetClass, ...] = get_args(AssetClass)
MAX_KEY_NAME = 100
MIN_KEY_RATE, MAX_KEY_RATE = 0.01, 1_000_000.0
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

__all__ = [
    "ASSET_CLASSES",
    "HISTORY_TIMEFRAMES",
    "MAX_AUDIT_PAGE",
    "MAX_ID",
    "MAX_KEY_NAME",
    "MAX_KEY_RATE",
    "MAX_SEARCH_LENGTH",
    "MAX_SEARCH_RESULTS",
    "MAX_SYMBOLS",
    "MIN_KEY_RATE",
    "asset_class",
    "basis",
    "bounded_range",
    "date_order",
    "history_timeframe",
    "key_expiry",
    "key_id",
    "key_name",
    "key_rate_limit",
    "key_scopes",
    "limit",
    "offset_page",
    "page_size",
    "quality_threshold",
    "search_text",
    "ticker",
    "tickers",
    "time_range",
    "timeframe",
    "tracked_timeframes",
]

ticker = validate_ticker
timeframe = parse_timeframe


def tickers(symbols: Sequence[str]) -> list[str]:
    """A non-empty, bounded list of well-formed tickers, duplicates removed, order kept."""
    if not symbols:
        raise InvalidInput("give at least one symbol")
    unique = list(dict.fromkeys(symbols))
    if len(unique) > MAX_SYMBOLS:
        raise InvalidInput(f"at most {MAX_SYMBOLS} symbols per request, got {len(unique)}")
    for symbol in unique:
        validate_ticker(symbol)
    return unique


def time_range(start: datetime | None, end: datetime | None) -> None:
    """Both bounds (when given) time-zone aware and in the supported range, start before end."""
    for name, value in (("start", start), ("end", end)):
        if value is None:
            continue
        if value.tzinfo is None:
            raise InvalidInput(f"{name} must carry a time zone (use UTC, e.g. 2024-01-02T00:00Z)")
        check_bound(value, name)
    if start is not None and end is not None and end <= start:
        raise InvalidInput(f"end ({end.isoformat()}) must be after start ({start.isoformat()})")


def bounded_range(start: datetime | None, end: datetime | None, what: str) -> None:
    """A range with both bounds, for work that must know where it ends (`what` needs it)."""
    if start is None or end is None:
        raise InvalidInput(f"{what} needs both start and end")
    time_range(start, end)


def limit(value: int, cap: int) -> int:
    """Bars per symbol: 1 to the per-response cap."""
    if not 1 <= value <= cap:
        raise InvalidInput(f"limit must be between 1 and {cap}, got {value}")
    return value


def page_size(value: int) -> int:
    """A search page: 1 to MAX_SEARCH_RESULTS."""
    if not 1 <= value <= MAX_SEARCH_RESULTS:
        raise InvalidInput(f"first must be between 1 and {MAX_SEARCH_RESULTS}, got {value}")
    return value


def offset_page(limit: int, offset: int, maximum: int) -> None:
    """An offset page: 1 to `maximum` items, from a non-negative offset."""
    if not 1 <= limit <= maximum:
        raise InvalidInput(f"limit must be between 1 and {maximum}, got {limit}")
    if not 0 <= offset <= MAX_ID:
        raise InvalidInput(f"offset must be between 0 and {MAX_ID}, got {offset}")


def search_text(value: str | None) -> str | None:
    """A search string: 1 to MAX_SEARCH_LENGTH characters, no NUL (PostgreSQL refuses it)."""
    if value is None:
        return None
    if not 1 <= len(value) <= MAX_SEARCH_LENGTH:
        raise InvalidInput(f"search must be 1 to {MAX_SEARCH_LENGTH} characters")
    if "\x00" in value:
        raise InvalidInput("search must not contain NUL characters")
    return value


def basis(value: Timeframe | str) -> Timeframe:
    """The base bars a window summary is built on: 1m (intraday) or 1d (daily)."""
    parsed = parse_timeframe(value)
    if parsed not in BASE_TIMEFRAMES:
        raise InvalidInput(f"basis must be M1 (intraday) or D1 (daily), not {parsed.value!r}")
    return parsed


def history_timeframe(value: str) -> Timeframe:
    """The timeframes the REST history route serves (the older API's set)."""
    accepted = ", ".join(t.value for t in HISTORY_TIMEFRAMES)
    if value not in {t.value for t in HISTORY_TIMEFRAMES}:
        raise InvalidInput(f"unknown timeframe {value!r}; use one of: {accepted}")
    return Timeframe(value)


def date_order(start: date, end: date) -> None:
    """A calendar-day range, both days included: end on or after start, before 9999-12-31."""
    if end >= date.max:
        raise InvalidInput(f"end must be before {date.max}")
    if end < start:
        raise InvalidInput(
            f"end ({end.isoformat()}) must not be before start ({start.isoformat()})"
        )


def quality_threshold(value: float) -> float:
    """A quality score threshold: 0 to 1."""
    if not 0.0 <= value <= 1.0:
        raise InvalidInput(f"min_quality must be between 0 and 1, got {value}")
    return value


def asset_class(value: str, symbol: str | None = None) -> AssetClass:
    """`stock` or `crypto`; with `symbol`, the one its ticker says (crypto tickers are X:…)."""
    for known in ASSET_CLASSES:
        if value == known:
            break
    else:
        raise InvalidInput(f"asset_class must be one of: {', '.join(ASSET_CLASSES)}")
    if symbol is not None and (known == "crypto") != symbol.startswith("X:"):
        raise InvalidInput(
            f"{symbol} is not a {known} ticker (crypto tickers look like X:BTCUSD, stocks AAPL)"
        )
    return known


def tracked_timeframes(values: Sequence[str]) -> list[Timeframe]:
    """A non-empty set of known timeframes, deduplicated, shortest first."""
    if not values:
        raise InvalidInput("give at least one timeframe")
    order = list(Timeframe)
    return sorted({parse_timeframe(v) for v in values}, key=order.index)


def key_id(value: int) -> int:
    """An API key id: 1 to the largest bigint."""
    if not 1 <= value <= MAX_ID:
        raise InvalidInput(f"a key id is between 1 and {MAX_ID}, got {value}")
    return value


def key_name(value: str) -> str:
    """A key's name: 1 to MAX_KEY_NAME characters once trimmed, no control characters (NUL
    is refused by PostgreSQL, line breaks would forge lines in listings)."""
    name = value.strip()
    if not 1 <= len(name) <= MAX_KEY_NAME:
        raise InvalidInput(f"a key's name must be 1 to {MAX_KEY_NAME} characters")
    if _CONTROL.search(name):
        raise InvalidInput("a key's name must not contain control characters (NUL, line breaks)")
    return name


def key_scopes(values: Iterable[Scope | str]) -> frozenset[Scope]:
    """At least one known scope: an empty list is refused, never read as a default."""
    parsed: set[Scope] = set()
    for value in values:
        try:
            parsed.add(Scope(value))
        except ValueError:
            allowed = ", ".join(s.value for s in Scope)
            raise InvalidInput(f"unknown scope {value!r}: use {allowed}") from None
    if not parsed:
        raise InvalidInput("a key needs at least one scope (leave scopes out for read)")
    return frozenset(parsed)


def key_rate_limit(value: float | None) -> float | None:
    """A key's own requests per minute: None (the server's default) or MIN..MAX_KEY_RATE."""
    if value is None:
        return None
    if not (math.isfinite(value) and MIN_KEY_RATE <= value <= MAX_KEY_RATE):
        raise InvalidInput(
            f"rate_limit_per_minute must be between {MIN_KEY_RATE} and {MAX_KEY_RATE:.0f},"
            f" got {value!r}"
        )
    return value


def key_expiry(value: datetime | None) -> datetime | None:
    """When a key stops working: None (never) or a time-zone-aware time."""
    if value is not None and value.tzinfo is None:
        raise InvalidInput("expires_at needs a time zone (use UTC)")
    return value
