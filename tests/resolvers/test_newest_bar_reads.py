"""A gateway's requests for the newest bars start from the horizon earlier requests taught it
(storage/newest_bars.py), and still see every bar written or deleted since."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from domain.timeframes import Timeframe
from schema import build_schema
from storage.bars_write import BarIn, upsert_bars
from tests.support.databases import Database
from tests.support.graphql import CountingPool, make_services, run

T0 = datetime(2024, 5, 6, 14, 30, tzinfo=UTC)
QUERY = """
{
  symbol(ticker: "X:BTCUSD") { latestBar(timeframe: M1) { time } }
  bars(ticker: "X:BTCUSD", timeframe: M1, order: DESC, limit: 2) { time }
}
"""


def _bar(time: datetime) -> BarIn:
    return BarIn("X:BTCUSD", time, 10, 11, 9, 10.5, 100, 10.2, 5)


async def test_the_newest_bars_follow_writes_and_deletions_across_requests(
    portable_db: Database,
) -> None:
    pool = CountingPool(portable_db.pool)
    services = make_services(pool, portable_db.backend)  # one gateway: what it learns stays
    schema = build_schema()

    async def newest() -> tuple[str | None, list[str]]:
        pool.statements.clear()
        body = await run(schema, QUERY, services)
        assert "errors" not in body, body
        symbol = body["data"]["symbol"]  # null once the ticker has no bars (nor reference data)
        latest = symbol and symbol["latestBar"]
        return (latest and latest["time"]), [bar["time"] for bar in body["data"]["bars"]]

    def bounded() -> list[bool]:
        return ["r.time >= '" in sql for sql in pool.statements if "FROM bars r" in sql]

    async def write(*times: datetime) -> None:
        await upsert_bars(
            portable_db.pool, Timeframe.M1, [_bar(t) for t in times], portable_db.backend
        )

    minute = timedelta(minutes=1)
    await write(T0, T0 + minute)
    assert await newest() == (
        "2024-05-06T14:31:00Z",
        ["2024-05-06T14:31:00Z", "2024-05-06T14:30:00Z"],
    )
    assert bounded() == [False, False]  # nothing learnt yet
    await write(T0 + 90 * minute)
    assert await newest() == (
        "2024-05-06T16:00:00Z",
        ["2024-05-06T16:00:00Z", "2024-05-06T14:31:00Z"],
    )
    assert bounded() == [True, True]
    await portable_db.pool.execute("DELETE FROM bars WHERE time > $1", T0)
    assert await newest() == ("2024-05-06T14:30:00Z", ["2024-05-06T14:30:00Z"])
    await portable_db.pool.execute("DELETE FROM bars")
    assert await newest() == (None, [])


async def test_a_ticker_without_minute_bars_is_read_apart_only_where_bars_has_chunks(
    portable_db: Database,
) -> None:
    """A watch list's newest minute bars, one of its tickers having daily bars only: on a
    hypertable that ticker is read alone and the other keeps its horizon; on a plain table,
    where a horizon saves nothing, the list stays one statement."""
    await upsert_bars(portable_db.pool, Timeframe.M1, [_bar(T0)], portable_db.backend)
    daily = [BarIn(t, T0.replace(hour=0), 10, 11, 9, 10.5, 100) for t in ("X:BTCUSD", "X:ETHUSD")]
    await upsert_bars(portable_db.pool, Timeframe.D1, daily, portable_db.backend)
    query = '{ symbols(tickers: ["X:BTCUSD", "X:ETHUSD"]) { latestBar(timeframe: M1) { time } } }'
    shapes = {}
    for chunk in (None, timedelta(days=7)):
        pool = CountingPool(portable_db.pool)
        services = dataclasses.replace(make_services(pool, portable_db.backend), bar_chunks=chunk)
        for _ in range(2):  # the second request knows X:BTCUSD's newest minute
            pool.statements.clear()
            body = await run(build_schema(), query, services)
            assert body["data"] == {"symbols": [{"latestBar": {"time": "2024-05-06T14:30:00Z"}},
                                                {"latestBar": None}]}  # fmt: skip
        shapes[chunk] = [("r.time >= '" in sql, "$1::text AS" in sql)
                         for sql in pool.statements if "r.timeframe = '1m'" in sql]  # fmt: skip
    assert shapes == {None: [(False, False)], timedelta(days=7): [(True, True), (False, True)]}
