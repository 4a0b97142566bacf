"""A gateway on portable rollups reads them without the tail (always empty there); one on
continuous aggregates keeps it (it holds the rows not yet materialized: storage/rollup_reads.py).
Both run here against the portable database, whose tail views exist and hold nothing, so the
answers must agree while the statements differ."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from domain.timeframes import Timeframe
from schema import build_schema
from storage.bars_write import upsert_bars
from storage.features import RollupBackend
from tests.support.bars import minute_bars
from tests.support.databases import Database
from tests.support.graphql import CountingPool, make_services, run

DAY = datetime(2024, 3, 11, tzinfo=UTC)
QUERY = """
{
  bars(ticker: "X:BTCUSD", timeframe: H1, from: "2024-03-11T02:00:00Z", limit: 5) { time close }
  symbols(tickers: ["X:BTCUSD", "X:ETHUSD"]) {
    ticker
    latestBar(timeframe: M15) { time close }
    aggregate(from: "2024-03-11T00:00:00Z", to: "2024-03-11T04:00:00Z") { open close volume }
  }
}
"""


async def test_only_a_portable_gateway_leaves_the_tail_out(portable_db: Database) -> None:
    rng, end = random.Random(4), DAY + timedelta(hours=6)
    bars = [b for s in ("X:BTCUSD", "X:ETHUSD") for b in minute_bars(rng, s, DAY, end)]
    await upsert_bars(portable_db.pool, Timeframe.M1, bars, portable_db.backend)
    schema = build_schema()
    answers, tails = [], []
    for backend in (RollupBackend.PORTABLE, RollupBackend.CAGGS):
        pool = CountingPool(portable_db.pool)
        body = await run(schema, QUERY, make_services(pool, backend))
        assert "errors" not in body, body
        answers.append(body["data"])
        rollup_reads = [sql for sql in pool.statements if "_stored" in sql]
        assert len(rollup_reads) == 3, pool.statements  # bars, latestBar, aggregate
        tails.append(["_tail" in sql for sql in rollup_reads])
    assert tails == [[False] * 3, [True] * 3]
    assert answers[0] == answers[1]
    assert len(answers[0]["bars"]) == 4 and all(s["latestBar"] for s in answers[0]["symbols"])
