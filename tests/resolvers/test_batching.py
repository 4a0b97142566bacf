"""DataLoader batching: N symbols cost the same SQL statements as one, and lose no data."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio

from domain.timeframes import Timeframe
from schema import build_schema
from storage.bars_read import fetch_bars, latest_bars, window_summary
from storage.bars_write import BarIn, upsert_bars
from storage.features import RollupBackend
from tests.support.bars import daily_bars, minute_bars
from tests.support.databases import Database, Server, Template, cloned_database
from tests.support.graphql import CountingPool, make_services, parse_time, run

T0 = datetime(2024, 5, 6, tzinfo=UTC)  # a Monday
WINDOW = (T0 + timedelta(hours=1), T0 + timedelta(hours=5))  # tiled by 1h rollups
KNOWN = [f"X:C{i:02d}USD" for i in range(45)]
UNKNOWN = [f"U{i}" for i in range(5)]  # well-formed tickers the store has never heard of
TICKERS = KNOWN[:20] + UNKNOWN + KNOWN[20:]  # 50, unknown ones in the middle

QUERY = """
query Batch($tickers: [String!]!, $from: DateTime!, $to: DateTime!) {
  symbols(tickers: $tickers) {
    ticker
    bars(timeframe: H1, limit: 5) { time close }
    latestBar(timeframe: D1) { close }
    aggregate(from: $from, to: $to) { close }
  }
}
"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def loaded(
    server: Server, templates: dict[RollupBackend, Template]
) -> AsyncIterator[Database]:
    """A fresh database (as `portable_db`) with bars of 45 symbols, loaded once: tests only read."""
    async with cloned_database(server, templates) as database:
        rng = random.Random(5)
        minutes: list[BarIn] = []
        days: list[BarIn] = []
        for ticker in KNOWN:
            minutes += minute_bars(rng, ticker, T0, T0 + timedelta(hours=8), gap_chance=0.1)
            days += daily_bars(rng, ticker, date(2024, 4, 22), date(2024, 5, 5))
        await upsert_bars(database.pool, Timeframe.M1, minutes, database.backend)
        await upsert_bars(database.pool, Timeframe.D1, days, database.backend)
        yield database


async def batch(db: Database, tickers: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    pool = CountingPool(db.pool)
    body = await run(
        build_schema(),
        QUERY,
        make_services(pool, db.backend),
        {"tickers": tickers, "from": WINDOW[0].isoformat(), "to": WINDOW[1].isoformat()},
    )
    assert "errors" not in body, body["errors"]
    symbols: list[dict[str, Any]] = body["data"]["symbols"]
    return symbols, pool.statements


async def test_fifty_symbols_cost_the_same_three_statements_as_one(loaded: Database) -> None:
    _, one = await batch(loaded, TICKERS[:1])
    _, two = await batch(loaded, TICKERS[:2])
    fifty_rows, fifty = await batch(loaded, TICKERS)
    # bars, latest bars, window summary: one statement each, whatever N is; no symbol lookup,
    # since no reference field is selected (one symbol's bars take a plainer statement)
    assert len(one) == len(two) == 3, one
    assert fifty == two  # the very same statements, only with more symbols bound
    assert [s["ticker"] for s in fifty_rows] == TICKERS


LATEST_AND_AGGREGATE = """
query Batch($tickers: [String!]!, $from: DateTime!, $to: DateTime!) {
  symbols(tickers: $tickers) {
    ticker
    latestBar(timeframe: H1) { time close }
    aggregate(from: $from, to: $to) { open close volume }
    %s
  }
}
"""


async def test_latest_bar_and_aggregate_of_fifty_symbols_cost_two_statements(
    loaded: Database,
) -> None:
    counts = []
    for tickers in (TICKERS[:1], TICKERS):
        pool = CountingPool(loaded.pool)
        window = {"from": WINDOW[0].isoformat(), "to": WINDOW[1].isoformat()}
        body = await run(
            build_schema(),
            LATEST_AND_AGGREGATE % "",
            make_services(pool),
            {"tickers": tickers, **window},
        )
        assert "errors" not in body, body["errors"]
        rows = body["data"]["symbols"]
        assert [r["ticker"] for r in rows] == tickers
        assert all((r["latestBar"] is None) is (r["ticker"] in UNKNOWN) for r in rows)
        assert all((r["aggregate"] is None) is (r["ticker"] in UNKNOWN) for r in rows)
        counts.append(len(pool.statements))
    assert counts == [2, 2]


@pytest.mark.parametrize("reference", ["name", "market", "primaryExchange", "currency", "active",
                                       "... on Symbol { name }"])  # fmt: skip
async def test_reference_fields_are_looked_up_once_when_selected(
    loaded: Database, reference: str
) -> None:
    pool = CountingPool(loaded.pool)
    window = {"from": WINDOW[0].isoformat(), "to": WINDOW[1].isoformat()}
    query = LATEST_AND_AGGREGATE % reference
    body = await run(build_schema(), query, make_services(pool), {"tickers": TICKERS, **window})
    assert "errors" not in body, body["errors"]
    assert len(pool.statements) == 3  # the symbol lookup as well
    expected = await run(
        build_schema(), query, make_services(loaded.pool), {"tickers": TICKERS, **window}
    )
    assert body == expected


async def test_batched_answers_equal_the_storage_reads_symbol_by_symbol(loaded: Database) -> None:
    symbols, _ = await batch(loaded, TICKERS)
    pool = loaded.pool
    bars = await fetch_bars(pool, TICKERS, Timeframe.H1, limit=5)
    latest = await latest_bars(pool, TICKERS, Timeframe.D1)
    summaries = await window_summary(pool, TICKERS, *WINDOW)
    assert set(latest) == set(summaries) == set(KNOWN)  # the direct reads do have data
    for entry in symbols:
        ticker = entry["ticker"]
        expected_bars = [(r["time"], r["close"]) for r in bars if r["symbol"] == ticker]
        assert [(parse_time(b["time"]), b["close"]) for b in entry["bars"]] == expected_bars
        if ticker in UNKNOWN:
            assert (entry["bars"], entry["latestBar"], entry["aggregate"]) == ([], None, None)
            continue
        assert len(entry["bars"]) == 5, ticker
        assert entry["latestBar"] == {"close": latest[ticker]["close"]}, ticker
        assert entry["aggregate"] == {"close": summaries[ticker].close}, ticker


async def test_each_distinct_argument_set_costs_one_statement(loaded: Database) -> None:
    """Aliased fields with different arguments batch per argument set, not per symbol."""
    query = """
    query($tickers: [String!]!) {
      symbols(tickers: $tickers) {
        ticker
        first: bars(timeframe: H1, limit: 1) { close }
        again: bars(timeframe: H1, limit: 1) { close }
        two: bars(timeframe: H1, limit: 2) { close }
        hourly: latestBar(timeframe: H1) { close }
        daily: latestBar(timeframe: D1) { close }
      }
      a: symbol(ticker: "X:C00USD") { ticker }
      b: symbol(ticker: "X:C01USD") { ticker }
    }
    """
    counts = []
    for tickers in (KNOWN[:1], KNOWN):
        pool = CountingPool(loaded.pool)
        body = await run(build_schema(), query, make_services(pool), {"tickers": tickers})
        assert "errors" not in body, body["errors"]
        rows = body["data"]["symbols"]
        assert all(r["first"] == r["again"] == r["two"][:1] and len(r["two"]) == 2 for r in rows)
        assert all(r["hourly"] and r["daily"] for r in rows)
        assert (body["data"]["a"], body["data"]["b"]) == (
            {"ticker": "X:C00USD"},
            {"ticker": "X:C01USD"},
        )
        counts.append(len(pool.statements))
    # one symbol lookup (both single lookups; the list reads no reference data), two bars
    # argument sets, two latest-bar timeframes
    assert counts == [5, 5]
