"""Coverage: range arithmetic, the date-window rule, and the freshness of open periods."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.timeframes import Timeframe
from storage import coverage
from storage.coverage import Span, fetch_window, fetch_windows, subtract
from tests.support.databases import Database

NY = ZoneInfo("America/New_York")


def utc(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def day_start(day: date, zone: ZoneInfo | None = None) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone or UTC).astimezone(UTC)


# -- pure arithmetic ----------------------------------------------------------------------------


def test_subtract_leaves_the_holes_in_order() -> None:
    wanted = (utc(2024, 1, 1), utc(2024, 1, 10))
    covered = [(utc(2024, 1, 5), utc(2024, 1, 6)), (utc(2023, 12, 1), utc(2024, 1, 2))]
    assert subtract(wanted, covered) == [
        (utc(2024, 1, 2), utc(2024, 1, 5)),
        (utc(2024, 1, 6), utc(2024, 1, 10)),
    ]
    assert subtract(wanted, [(utc(2023, 1, 1), utc(2025, 1, 1))]) == []
    assert subtract(wanted, []) == [wanted]


minutes = st.integers(min_value=0, max_value=60 * 24 * 30)


def at(minute: int) -> datetime:
    return utc(2024, 3, 1) + timedelta(minutes=minute)


@given(st.tuples(minutes, minutes), st.lists(st.tuples(minutes, minutes), max_size=6))
def test_subtract_is_exactly_set_difference(
    wanted: tuple[int, int], covered: list[tuple[int, int]]
) -> None:
    lo, hi = sorted(wanted)
    spans = [(at(a), at(b)) for a, b in (sorted(c) for c in covered) if a < b]
    holes = subtract((at(lo), at(hi)), spans)
    in_holes = {m for s, e in holes for m in range(_min(s), _min(e))}
    in_covered = {m for s, e in spans for m in range(_min(s), _min(e))}
    assert in_holes == set(range(lo, hi)) - in_covered
    assert all(s < e for s, e in holes) and holes == sorted(holes)


def _min(t: datetime) -> int:
    return int((t - at(0)).total_seconds() // 60)


def test_crypto_windows_are_whole_utc_days() -> None:
    window = fetch_window("X:BTCUSD", utc(2024, 1, 5, 10), utc(2024, 1, 6, 3))
    assert (window.first, window.last) == (date(2024, 1, 5), date(2024, 1, 6))
    assert window.span == (utc(2024, 1, 5), utc(2024, 1, 7))


def test_stock_windows_start_at_the_new_york_day_and_end_at_the_utc_day() -> None:
    # 02:00 UTC on Jan 5 is still Jan 4 in New York; 03:00 UTC on Jan 8 is already Jan 8 in UTC.
    window = fetch_window("AAPL", utc(2024, 1, 5, 2), utc(2024, 1, 8, 3))
    assert (window.first, window.last) == (date(2024, 1, 4), date(2024, 1, 8))
    assert window.span == (utc(2024, 1, 4, 5), utc(2024, 1, 9))


instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2026, 1, 1), timezones=st.just(UTC)
)


@given(st.sampled_from(["AAPL", "BRK.B", "X:BTCUSD", "C:EURUSD"]), instants, instants)
def test_a_window_covers_its_range_and_claims_only_what_either_day_reading_fetches(
    ticker: str, a: datetime, b: datetime
) -> None:
    if a == b:
        return
    start, end = min(a, b), max(a, b)
    window = fetch_window(ticker, start, end)
    assert window.start <= start and end <= window.end
    fetched_as_utc_days = (day_start(window.first), day_start(window.last + timedelta(days=1)))
    assert fetched_as_utc_days[0] <= window.start and window.end <= fetched_as_utc_days[1]
    if not ticker.startswith(("X:", "C:")):
        ny_days = (day_start(window.first, NY), day_start(window.last + timedelta(days=1), NY))
        assert ny_days[0] <= window.start and window.end <= ny_days[1]


def test_holes_on_touching_days_become_one_request() -> None:
    holes: list[Span] = [
        (utc(2024, 1, 2, 10), utc(2024, 1, 2, 11)),
        (utc(2024, 1, 3, 5), utc(2024, 1, 3, 6)),
        (utc(2024, 1, 9), utc(2024, 1, 10)),
    ]
    windows = fetch_windows("X:BTCUSD", holes)
    assert [(w.first, w.last) for w in windows] == [
        (date(2024, 1, 2), date(2024, 1, 3)),
        (date(2024, 1, 9), date(2024, 1, 9)),
    ]
    assert windows[0].wanted == tuple(holes[:2])


@pytest.fixture
def server_in_los_angeles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The process's local time zone set to UTC-8 (a host not configured for UTC)."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("server_in_los_angeles")
def test_windows_do_not_depend_on_the_servers_time_zone() -> None:
    start, end = utc(2024, 1, 2, 10), utc(2024, 1, 3, 3)  # 19:00 on Jan 2 in Los Angeles
    assert fetch_window("X:BTCUSD", start, end) == coverage.FetchWindow(
        date(2024, 1, 2), date(2024, 1, 3), utc(2024, 1, 2), utc(2024, 1, 4), ((start, end),)
    )


def test_holes_a_day_apart_stay_two_requests_and_a_merged_one_spans_both() -> None:
    """The day between two holes is not fetched; a merged window covers from the first's
    start (a merged window that lost its start would claim all time before it)."""
    apart = fetch_windows("X:BTCUSD", [(utc(2024, 1, 2, 10), utc(2024, 1, 2, 11)),
                                       (utc(2024, 1, 4, 5), utc(2024, 1, 4, 6))])  # fmt: skip
    assert [(w.first, w.last) for w in apart] == [
        (date(2024, 1, 2), date(2024, 1, 2)),
        (date(2024, 1, 4), date(2024, 1, 4)),
    ]
    holes: list[Span] = [(utc(2024, 1, 2, 10), utc(2024, 1, 2, 11)),
                         (utc(2024, 1, 3, 5), utc(2024, 1, 3, 6))]  # fmt: skip
    [merged] = fetch_windows("X:BTCUSD", holes)
    assert merged.span == (utc(2024, 1, 2), utc(2024, 1, 4))


@pytest.mark.parametrize(
    ("cut", "expected"),
    [
        (utc(2024, 1, 10, 12), ((utc(2024, 1, 10), utc(2024, 1, 10, 12)),
                                (utc(2024, 1, 10, 12), utc(2024, 1, 11)))),
        (utc(2024, 1, 10), (None, (utc(2024, 1, 10), utc(2024, 1, 11)))),
        (utc(2024, 1, 9), (None, (utc(2024, 1, 10), utc(2024, 1, 11)))),
        (utc(2024, 1, 11), ((utc(2024, 1, 10), utc(2024, 1, 11)), None)),
        (utc(2024, 1, 12), ((utc(2024, 1, 10), utc(2024, 1, 11)), None)),
    ],
)  # fmt: skip
def test_a_fetch_splits_into_a_finished_and_an_open_part_never_empty(
    cut: datetime, expected: tuple[Span | None, Span | None]
) -> None:
    assert coverage.split_at((utc(2024, 1, 10), utc(2024, 1, 11)), cut) == expected


@pytest.mark.parametrize(
    ("other", "expected"),
    [
        ((utc(2024, 1, 10, 23), utc(2024, 1, 12)), True),
        ((utc(2024, 1, 9), utc(2024, 1, 10, 1)), True),
        ((utc(2024, 1, 11), utc(2024, 1, 12)), False),
        ((utc(2024, 1, 9), utc(2024, 1, 10)), False),
        ((utc(2024, 1, 12), utc(2024, 1, 13)), False),
        ((utc(2024, 1, 8), utc(2024, 1, 9)), False),
    ],
)
def test_only_fetches_sharing_time_wait_for_each_other(other: Span, expected: bool) -> None:
    """`overlaps` decides whether a request waits for another's fetch: touching is not
    sharing."""
    day = (utc(2024, 1, 10), utc(2024, 1, 11))
    assert coverage.overlaps(day, other) is expected
    assert coverage.overlaps(other, day) is expected


def test_the_open_period_is_the_current_minute_or_trading_day() -> None:
    t = utc(2024, 3, 11, 3, 7, 42)  # 23:07 on Mar 10 in New York (EDT from that morning)
    assert coverage.period_start(Timeframe.M1, "AAPL", t) == utc(2024, 3, 11, 3, 7)
    assert coverage.period_start(Timeframe.D1, "AAPL", t) == utc(2024, 3, 10, 5)  # EST midnight
    assert coverage.period_start(Timeframe.D1, "X:BTCUSD", t) == utc(2024, 3, 11)


@pytest.mark.parametrize(
    ("timeframe", "start", "end", "expected"),
    [
        (Timeframe.H1, utc(2024, 1, 2, 10, 30), utc(2024, 1, 2, 12, 30), (10, 13)),
        (Timeframe.M1, utc(2024, 1, 2, 10, 30, 5), utc(2024, 1, 2, 12, 30), None),
        (Timeframe.D1, utc(2024, 1, 2, 5), utc(2024, 1, 3, 5), None),
    ],
)
def test_rollup_ranges_widen_to_whole_buckets(
    timeframe: Timeframe, start: datetime, end: datetime, expected: tuple[int, int] | None
) -> None:
    span = coverage.whole_buckets(timeframe, start, end)
    if expected is None:
        assert span == (start, end)
    else:
        assert span == (utc(2024, 1, 2, expected[0]), utc(2024, 1, 2, expected[1]))
    month = coverage.whole_buckets(Timeframe.MO1, utc(2024, 1, 15), utc(2024, 2, 3))
    assert month == (utc(2024, 1, 1), utc(2024, 3, 1))


KEY_AAPL_1M = -2141597624322542918


def test_lock_keys_are_stable_and_distinct_per_symbol_and_timeframe() -> None:
    keys = {coverage.advisory_key(s, t) for s in ("AAPL", "MSFT") for t in Timeframe}
    assert len(keys) == 2 * len(Timeframe)
    # A fixed value: every worker process must compute the same key (no salted hash()).
    assert coverage.advisory_key("AAPL", Timeframe.M1) == KEY_AAPL_1M
    assert all(-(2**63) <= k < 2**63 for k in keys)


# -- stored coverage ----------------------------------------------------------------------------

DAY = (utc(2024, 1, 10), utc(2024, 1, 11))
TTL = timedelta(seconds=60)


async def _record(db: Database, window: Span, cut: datetime, fetched_at: datetime) -> None:
    times = [window[0] + timedelta(minutes=i) for i in range(0, 24 * 60, 30)]
    before = sum(t < cut for t in times)
    async with db.pool.acquire() as conn:
        await coverage.record(
            conn, "X:BTCUSD", Timeframe.M1, window, cut=cut, fetched_at=fetched_at,
            bar_counts=(before, len(times) - before),
        )  # fmt: skip


async def _holes(db: Database, span: Span, now: datetime) -> list[Span]:
    return await coverage.holes(db.pool, "X:BTCUSD", Timeframe.M1, span, now=now, ttl=TTL)


async def test_a_finished_range_stays_covered(portable_db: Database) -> None:
    await _record(portable_db, DAY, cut=utc(2024, 2, 1), fetched_at=utc(2024, 2, 1))
    assert await _holes(portable_db, DAY, now=utc(2030, 1, 1)) == []
    wider = (utc(2024, 1, 9, 12), utc(2024, 1, 11, 6))
    assert await _holes(portable_db, wider, now=utc(2030, 1, 1)) == [
        (utc(2024, 1, 9, 12), utc(2024, 1, 10)),
        (utc(2024, 1, 11), utc(2024, 1, 11, 6)),
    ]


async def test_the_open_part_of_a_range_expires_after_the_ttl(portable_db: Database) -> None:
    fetched = utc(2024, 1, 10, 12, 0, 30)
    await _record(portable_db, DAY, cut=utc(2024, 1, 10, 12), fetched_at=fetched)
    today = (utc(2024, 1, 10, 9), utc(2024, 1, 10, 12, 1))
    assert await _holes(portable_db, today, now=fetched + timedelta(seconds=59)) == []
    expired = await _holes(portable_db, today, now=fetched + timedelta(seconds=61))
    assert expired == [(utc(2024, 1, 10, 12), utc(2024, 1, 10, 12, 1))]
    rows = await portable_db.pool.fetch(
        "SELECT lower(range) AS s, upper(range) AS e, complete, bar_count FROM coverage"
        " ORDER BY lower(range)"
    )
    assert [(r["s"], r["e"], r["complete"], r["bar_count"]) for r in rows] == [
        (utc(2024, 1, 10), utc(2024, 1, 10, 12), True, 24),
        (utc(2024, 1, 10, 12), utc(2024, 1, 11), False, 24),
    ]


async def test_refetching_a_range_replaces_its_rows(portable_db: Database) -> None:
    await _record(portable_db, DAY, cut=utc(2024, 1, 10, 12), fetched_at=utc(2024, 1, 10, 12))
    await _record(portable_db, DAY, cut=utc(2024, 1, 10, 18), fetched_at=utc(2024, 1, 10, 18))
    rows = await portable_db.pool.fetch(
        "SELECT upper(range) AS e, complete, bar_count FROM coverage ORDER BY lower(range)"
    )
    assert [(r["e"], r["complete"], r["bar_count"]) for r in rows] == [
        (utc(2024, 1, 10, 18), True, 36),  # bars before the cut: 00:00 to 17:30 every 30 min
        (utc(2024, 1, 11), False, 12),
    ]
    await _record(portable_db, DAY, cut=utc(2024, 1, 12), fetched_at=utc(2024, 1, 12))
    rows = await portable_db.pool.fetch("SELECT range, complete FROM coverage")
    assert [(r["range"].lower, r["range"].upper, r["complete"]) for r in rows] == [(*DAY, True)]
