"""Timeframes, which base bars each rollup is built from, and how buckets align.

Base bars are stored for `1m` and `1d` only; everything else is a rollup. Each rollup is built
from the level below it (hierarchical), so refreshing a bucket reads few rows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from domain.errors import InvalidInput


class Timeframe(enum.StrEnum):
    """Bar sizes the store can answer."""

    M1 = "1m"
    M5 = "5m"
    M15 = "15m"
    M30 = "30m"
    H1 = "1h"
    H4 = "4h"
    D1 = "1d"
    W1 = "1w"
    MO1 = "1mo"


BASE_TIMEFRAMES = (Timeframe.M1, Timeframe.D1)


@dataclass(frozen=True, slots=True)
class Rollup:
    """One rollup level: its timeframe, the level it is computed from, its bucket width."""

    timeframe: Timeframe
    source: Timeframe
    width: str  # a PostgreSQL interval literal
    relation: str  # table or continuous aggregate holding its rows


ROLLUPS: tuple[Rollup, ...] = (
    Rollup(Timeframe.M5, Timeframe.M1, "5 minutes", "bars_5m"),
    Rollup(Timeframe.M15, Timeframe.M5, "15 minutes", "bars_15m"),
    Rollup(Timeframe.M30, Timeframe.M15, "30 minutes", "bars_30m"),
    Rollup(Timeframe.H1, Timeframe.M30, "1 hour", "bars_1h"),
    Rollup(Timeframe.H4, Timeframe.H1, "4 hours", "bars_4h"),
    Rollup(Timeframe.W1, Timeframe.D1, "7 days", "bars_1w"),
    Rollup(Timeframe.MO1, Timeframe.D1, "1 month", "bars_1mo"),
)
ROLLUP_BY_TIMEFRAME = {r.timeframe: r for r in ROLLUPS}


def levels_from(base: Timeframe) -> list[Rollup]:
    """Rollups built (directly or through another rollup) on `base`, bottom-up."""
    order: list[Rollup] = []
    sources = {base}
    for rollup in ROLLUPS:  # ROLLUPS lists every level after its source
        if rollup.source in sources:
            order.append(rollup)
            sources.add(rollup.timeframe)
    return order


_FIXED = {
    Timeframe.M1: timedelta(minutes=1),
    Timeframe.M5: timedelta(minutes=5),
    Timeframe.M15: timedelta(minutes=15),
    Timeframe.M30: timedelta(minutes=30),
    Timeframe.H1: timedelta(hours=1),
    Timeframe.H4: timedelta(hours=4),
    Timeframe.D1: timedelta(days=1),
    Timeframe.W1: timedelta(days=7),
}
# Buckets up to a day align to midnight UTC (TimescaleDB's time_bucket origin is 2000-01-03).
_ORIGIN = datetime(2000, 1, 3, tzinfo=UTC)


def parse_timeframe(value: str | Timeframe) -> Timeframe:
    """Turn user input into a Timeframe, or raise InvalidInput naming the accepted values."""
    if type(value) is Timeframe:  # already one (every storage read): not the enum's lookup
        return value
    try:
        return Timeframe(value)
    except ValueError:
        accepted = ", ".join(t.value for t in Timeframe)
        raise InvalidInput(f"unknown timeframe {value!r}; use one of: {accepted}") from None


def base_of(timeframe: Timeframe) -> Timeframe:
    """The base timeframe whose stored bars a timeframe is ultimately built from."""
    while timeframe in ROLLUP_BY_TIMEFRAME:
        timeframe = ROLLUP_BY_TIMEFRAME[timeframe].source
    return timeframe


def nominal_width(timeframe: Timeframe) -> timedelta:
    """A bucket's length (a month counts as 31 days): for limits and cost estimates."""
    return _FIXED.get(timeframe, timedelta(days=31))


def bucket_start(timeframe: Timeframe, t: datetime) -> datetime:
    """The start of the UTC-aligned bucket holding `t` (same rule as the SQL side).

    Daily-based rollups bucket by the UTC calendar date of the daily bar: a stock's daily bar
    starts at midnight New York time, which is 04:00 or 05:00 UTC of the same date, so the
    UTC date is the trading date for stocks and crypto alike.
    """
    if timeframe in _FIXED and timeframe is not Timeframe.W1:
        if t.tzinfo is None:
            raise ValueError("bucket_start needs a time-zone-aware datetime")
        start = t - (t - _ORIGIN) % _FIXED[timeframe]  # fast path: called per written bar
        return start if start.tzinfo is UTC else start.astimezone(UTC)
    day = t.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if timeframe is Timeframe.MO1:
        return day.replace(day=1)
    return day - timedelta(days=day.weekday())  # weeks start on Monday


def bucket_end(timeframe: Timeframe, start: datetime) -> datetime:
    """The end (exclusive) of the bucket starting at `start`."""
    if timeframe is Timeframe.MO1:
        return (start.replace(day=28) + timedelta(days=4)).replace(day=1)
    return start + _FIXED[timeframe]


_TILING = {
    Timeframe.M1: (Timeframe.H4, Timeframe.H1, Timeframe.M30, Timeframe.M15, Timeframe.M5),
    Timeframe.D1: (Timeframe.MO1, Timeframe.W1),
}


def tiling_timeframe(base: Timeframe, start: datetime, end: datetime) -> Timeframe:
    """The coarsest level built on `base` whose buckets tile [start, end) exactly (what a
    window summary reads, and so what its cost counts)."""
    for timeframe in _TILING.get(base, ()):
        if bucket_start(timeframe, start) == start and bucket_start(timeframe, end) == end:
            return timeframe
    return base
