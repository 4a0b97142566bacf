"""The supported time range, 1970-01-01 ≤ time < 2200-01-01 UTC, on every backend.

TimescaleDB's Apache-licensed build fails with "timestamp out of range" on times far from the
epoch; the store refuses them itself, the same way everywhere, before anything is written.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidInput
from domain.time_range import EARLIEST, END
from resolvers.validation import time_range as validate_range
from storage.bars_read import fetch_bars
from storage.bars_write import BarIn, upsert_bars
from tests.support.databases import Database

TINY = timedelta(microseconds=1)
LAST_DAY = END - timedelta(days=1)
LAST_MINUTE = END - timedelta(minutes=1)
OUTSIDE = {
    "just before 1970": EARLIEST - timedelta(minutes=1),
    "2200 itself": END,
    "year 1": datetime(1, 1, 1, tzinfo=UTC),
    "year 9999": datetime(9999, 12, 31, tzinfo=UTC),
}


def bar(time: datetime, symbol: str = "X:BTCUSD") -> BarIn:
    return BarIn(symbol, time, 1.0, 2.0, 0.5, 1.5, 10.0)


async def test_bars_at_both_ends_of_the_range_are_stored_and_read(db: Database) -> None:
    assert await upsert_bars(db.pool, "1d", [bar(EARLIEST), bar(LAST_DAY)], db.backend) == 2
    assert await upsert_bars(db.pool, "1m", [bar(EARLIEST), bar(LAST_MINUTE)], db.backend) == 2

    last_hour = END - timedelta(hours=1)
    for timeframe, last in (("1d", LAST_DAY), ("1m", LAST_MINUTE), ("1h", last_hour)):
        rows = await fetch_bars(db.pool, ["X:BTCUSD"], timeframe, EARLIEST, END, limit=10)
        assert [r["time"] for r in rows] == [EARLIEST, last], timeframe
    monthly = await fetch_bars(db.pool, ["X:BTCUSD"], "1mo", EARLIEST, END, limit=10)
    assert [r["time"] for r in monthly] == [EARLIEST, datetime(2199, 12, 1, tzinfo=UTC)]


@pytest.mark.parametrize("time", OUTSIDE.values(), ids=OUTSIDE.keys())
@pytest.mark.parametrize("timeframe", ["1m", "1d"])
async def test_bars_outside_the_range_are_refused_and_nothing_is_written(
    db: Database, time: datetime, timeframe: str
) -> None:
    batch = [bar(EARLIEST + timedelta(days=1)), bar(time), bar(LAST_DAY, "X:ETHUSD")]

    with pytest.raises(InvalidInput, match="outside the supported 1970-01-01") as refused:
        await upsert_bars(db.pool, timeframe, batch, db.backend)

    assert refused.value.code == "BAD_USER_INPUT"
    assert await db.pool.fetchval("SELECT count(*) FROM bars") == 0


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (EARLIEST, None),
        (None, END),
        (EARLIEST, END),
        (END - TINY, END),
        (EARLIEST, EARLIEST + TINY),
    ],
)
def test_read_ranges_inside_the_limits_are_accepted(
    start: datetime | None, end: datetime | None
) -> None:
    validate_range(start, end)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (EARLIEST - TINY, None),
        (EARLIEST - TINY, END),
        (None, END + TINY),
        (EARLIEST, END + TINY),
        (datetime(1, 1, 1, tzinfo=UTC), None),
        (None, datetime(9999, 12, 31, tzinfo=UTC)),
    ],
)
def test_read_ranges_outside_the_limits_are_refused(
    start: datetime | None, end: datetime | None
) -> None:
    with pytest.raises(InvalidInput, match="outside the supported") as refused:
        validate_range(start, end)
    assert refused.value.code == "BAD_USER_INPUT"
