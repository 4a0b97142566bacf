"""Which time ranges were fetched from upstream, and what is left to fetch.

A coverage row says "every bar upstream had for this symbol and base timeframe in this range
is stored" — empty ranges (weekends, holidays, before a listing) included, so they are fetched
once. Rows reaching into a bar period that was still open when fetched (`complete` false) count
only for a freshness TTL; after it the open part is fetched again.

The coverage rule. Polygon takes whole dates, read as New York days for stocks and UTC days
for crypto and forex (the test fake reads UTC days for everything). So a range is fetched as
the dates from the New York date of its start (UTC for crypto/forex) to the UTC date of its
end, and the coverage recorded is [first date 00:00 in the symbol's zone, day after the last
date 00:00 UTC): the part of those dates that was fetched under either reading, which always
contains the range asked for. For crypto/forex that is simply whole UTC days.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from domain.tickers import trades_around_the_clock
from domain.timeframes import BASE_TIMEFRAMES, Timeframe, bucket_end, bucket_start
from storage.pool import Conn, Executor
from storage.session_reset import session_changed

NEW_YORK = ZoneInfo("America/New_York")
_TICK = timedelta(microseconds=1)

Span = tuple[datetime, datetime]  # [start, end), both UTC-aware


@dataclass(frozen=True, slots=True)
class FetchWindow:
    """One upstream request: Polygon's inclusive `first`..`last` dates, the span they cover,
    and the holes that called for it (re-checked before fetching)."""

    first: date
    last: date
    start: datetime
    end: datetime
    wanted: tuple[Span, ...] = ()

    @property
    def span(self) -> Span:
        return (self.start, self.end)


def _midnight(day: date, zone: ZoneInfo | None = None) -> datetime:
    """Midnight starting `day` in `zone` (UTC when None), as a UTC datetime."""
    return datetime(day.year, day.month, day.day, tzinfo=zone or UTC).astimezone(UTC)


def _zone(ticker: str) -> ZoneInfo | None:
    """The zone of a symbol's trading day: None (UTC) for crypto/forex, New York otherwise."""
    return None if trades_around_the_clock(ticker) else NEW_YORK


def fetch_window(ticker: str, start: datetime, end: datetime) -> FetchWindow:
    """The dates to ask Polygon for so that everything in [start, end) is fetched."""
    zone = _zone(ticker)
    first = start.astimezone(zone or UTC).date()
    last = (end - _TICK).astimezone(UTC).date()
    return FetchWindow(
        first, last, _midnight(first, zone), _midnight(last + timedelta(days=1)), ((start, end),)
    )


def fetch_windows(ticker: str, holes: Iterable[Span]) -> list[FetchWindow]:
    """One window per run of holes whose dates touch or overlap (fewer, larger requests)."""
    windows: list[FetchWindow] = []
    for hole in sorted(holes):
        window = fetch_window(ticker, *hole)
        if windows and window.first <= windows[-1].last + timedelta(days=1):
            previous = windows[-1]
            last, upper = max((previous.last, previous.end), (window.last, window.end))
            wanted = previous.wanted + window.wanted
            windows[-1] = FetchWindow(previous.first, last, previous.start, upper, wanted)
        else:
            windows.append(window)
    return windows


def advisory_key(symbol: str, base: Timeframe) -> int:
    """A stable signed 64-bit lock key per (symbol, base timeframe), the same in every process."""
    digest = hashlib.blake2b(f"marketgraph:fetch:{symbol}:{base.value}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


@contextlib.asynccontextmanager
async def fetch_lock(conn: Conn, symbol: str, base: Timeframe) -> AsyncIterator[None]:
    """Hold the cross-process lock on fetching (symbol, base): one fetcher at a time."""
    key = advisory_key(symbol, base)
    session_changed(conn)
    await conn.execute("SELECT pg_advisory_lock($1)", key)
    try:
        yield
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", key)


def whole_buckets(timeframe: Timeframe, start: datetime, end: datetime) -> Span:
    """[start, end) widened to whole buckets of a rollup, which needs all its base bars.

    Base timeframes stay as asked: a base bar is a point in time, inside the range or not.
    """
    if timeframe in BASE_TIMEFRAMES:
        return start, end
    last = bucket_start(timeframe, end - _TICK)
    return bucket_start(timeframe, start), bucket_end(timeframe, last)


def period_start(base: Timeframe, ticker: str, t: datetime) -> datetime:
    """Start of the base bar period holding `t`: its minute, or its trading day."""
    if base is Timeframe.D1:
        zone = _zone(ticker)
        return _midnight(t.astimezone(zone or UTC).date(), zone)
    return bucket_start(base, t)


def split_at(span: Span, cut: datetime) -> tuple[Span | None, Span | None]:
    """(the complete part before `cut`, the open part from it), either possibly None."""
    start, end = span
    done = (start, min(end, cut)) if start < cut else None
    live = (max(start, cut), end) if cut < end else None
    return done, live


def subtract(wanted: Span, covered: Iterable[Span]) -> list[Span]:
    """The parts of `wanted` that no span of `covered` contains, in order."""
    holes: list[Span] = []
    cursor, end = wanted
    for c_start, c_end in sorted(covered):
        if c_end <= cursor:
            continue
        if c_start >= end:
            break
        if c_start > cursor:
            holes.append((cursor, c_start))
        cursor = max(cursor, c_end)
        if cursor >= end:
            return holes
    if cursor < end:
        holes.append((cursor, end))
    return holes


def overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]


async def covered(
    db: Executor,
    symbol: str,
    base: Timeframe,
    span: Span,
    *,
    now: datetime,
    ttl: timedelta,
) -> list[Span]:
    """Coverage rows overlapping `span` that still count at `now`."""
    rows = await db.fetch(
        "SELECT lower(range) AS s, upper(range) AS e FROM coverage"
        " WHERE symbol = $1 AND timeframe = $2 AND range && tstzrange($3, $4)"
        " AND (complete OR fetched_at > $5)"
        " ORDER BY lower(range)",
        symbol,
        base.value,
        span[0],
        span[1],
        now - ttl,
    )
    return [(r["s"], r["e"]) for r in rows]


async def holes(
    db: Executor,
    symbol: str,
    base: Timeframe,
    span: Span,
    *,
    now: datetime,
    ttl: timedelta,
    also_covered: Sequence[Span] = (),
) -> list[Span]:
    """What of `span` is not covered at `now` (counting `also_covered` as covered too)."""
    found = await covered(db, symbol, base, span, now=now, ttl=ttl)
    return subtract(span, [*found, *also_covered])


async def record(
    conn: Conn,
    symbol: str,
    base: Timeframe,
    window: Span,
    *,
    cut: datetime,
    fetched_at: datetime,
    bar_counts: tuple[int, int],
) -> None:
    """Record one fetch of `window`: complete before `cut`, open (TTL-bound) from it.

    `bar_counts` are the bars fetched before `cut` and from it.

    Rows inside the window are replaced, so re-fetching a range keeps one row per range.
    """
    done, live = split_at(window, cut)
    parts = [(part, complete) for part, complete in ((done, True), (live, False)) if part]
    counts = [bar_counts[0] if complete else bar_counts[1] for _, complete in parts]
    async with conn.transaction():
        await conn.execute(
            "DELETE FROM coverage WHERE symbol = $1 AND timeframe = $2"
            " AND range <@ tstzrange($3, $4)",
            symbol,
            base.value,
            window[0],
            window[1],
        )
        await conn.execute(
            "INSERT INTO coverage (symbol, timeframe, range, fetched_at, bar_count, complete)"
            " SELECT $1, $2, tstzrange(u.s, u.e), $3, u.n, u.c FROM unnest("
            "$4::timestamptz[], $5::timestamptz[], $6::int[], $7::boolean[]) AS u(s, e, n, c)",
            symbol,
            base.value,
            fetched_at,
            [part[0] for part, _ in parts],
            [part[1] for part, _ in parts],
            counts,
            [complete for _, complete in parts],
        )
