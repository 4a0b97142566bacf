"""What clients get from the query API: right data in every field, clear errors, firm limits."""

from __future__ import annotations

import logging
import random
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
import strawberry
from graphql import Lexer, Source, TokenKind

from domain.timeframes import BASE_TIMEFRAMES, Timeframe, bucket_start
from resolvers.validation import MAX_SYMBOLS
from schema import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS, build_schema
from storage.bars_write import BarIn, upsert_bars
from storage.features import RollupBackend
from storage.symbols import SymbolIn, upsert_symbols
from tests.support.bars import assert_bars_equal, daily_bars, expected_rollup, label, minute_bars
from tests.support.databases import Database, Server, Template, cloned_database
from tests.support.graphql import (
    CountingPool,
    FailingPool,
    error_codes,
    make_services,
    messages,
    parse_time,
    run,
)

T0 = datetime(2024, 5, 6, tzinfo=UTC)  # a Monday
MINUTE_SYMBOLS = ("AAPL", "X:BTCUSD")
DAILY_SYMBOLS = ("AAPL", "X:BTCUSD")
REFERENCE = (
    SymbolIn("AAPL", "Apple Inc.", "stocks", "us", "XNAS", "usd"),
    SymbolIn("AMZN", "Amazon.com Inc.", "stocks", "us", "XNAS", "usd"),
    SymbolIn("MSFT", "Microsoft Corp.", "stocks", "us", "XNAS", "usd", active=False),
    SymbolIn("NVDA", "NVIDIA Corp.", "stocks", "us", "XNAS", "usd"),
    SymbolIn("X:BTCUSD", "Bitcoin - United States Dollar", "crypto", "global", None, "usd"),
    SymbolIn("X:ETHUSD", "Ethereum - United States Dollar", "crypto", "global", None, "usd"),
    SymbolIn("C:EURUSD", "Euro - United States Dollar", "fx", "global", None, "usd"),
    SymbolIn("I:SPX", "S&P 500 (100% large caps)", "indices", "us", None, None),
)
BAR_FIELDS = (
    "time open high low close volume vwap trades barCount qualityScore gapDetected"
    " volumeAnomaly validationNotes"
)
AGGREGATE_FIELDS = (
    "ticker from to open high low close volume vwap trades barCount change changePercent"
    " firstBarTime lastBarTime sourceTimeframe"
)
SCHEMA = build_schema()


def flagged(rng: random.Random, bars: list[BarIn]) -> list[BarIn]:
    """Quality flags as validation would set them (values exact in PostgreSQL's `real`)."""
    return [
        b._replace(
            quality_score=rng.choice([0.5, 0.75, 1.0]),
            gap_detected=rng.random() < 0.1,
            volume_anomaly=rng.random() < 0.1,
            validation_notes=rng.choice([None, None, "gap before"]),
        )
        for b in bars
    ]


@dataclass(frozen=True)
class Market:
    db: Database
    minutes: list[BarIn]
    days: list[BarIn]

    def base(self, timeframe: Timeframe) -> list[BarIn]:
        daily = timeframe in (Timeframe.D1, Timeframe.W1, Timeframe.MO1)
        return self.days if daily else self.minutes

    def of(self, symbol: str, timeframe: Timeframe = Timeframe.M1) -> list[BarIn]:
        return sorted((b for b in self.base(timeframe) if b.symbol == symbol), key=lambda b: b.time)

    def services(self, **options: Any) -> Any:
        return make_services(self.db.pool, self.db.backend, **options)

    async def run(self, query: str, variables: dict[str, Any] | None = None, **options: Any) -> Any:
        return await run(SCHEMA, query, self.services(**options), variables)


# A ticker known from its bars alone (no reference data), and a bar time with microseconds.
SOL = BarIn("X:SOLUSD", T0, 1.0, 2.0, 0.5, 1.5, 10.0)
ODD = BarIn("X:ODDUSD", datetime(2024, 5, 6, 0, 0, 0, 123456, tzinfo=UTC), 1, 2, 0.5, 1.5, 1)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def market(server: Server, templates: dict[RollupBackend, Template]) -> AsyncIterator[Market]:
    """Stored market data, loaded once for this module: the tests here only read it."""
    async with cloned_database(server, templates) as database:
        yield await load_market(database)


async def load_market(portable_db: Database) -> Market:
    rng = random.Random(3)
    minutes = flagged(
        rng,
        [
            b
            for s in MINUTE_SYMBOLS
            for b in minute_bars(rng, s, T0, T0 + timedelta(days=2), gap_chance=0.1)
        ],
    )
    days = flagged(
        rng, [b for s in DAILY_SYMBOLS for b in daily_bars(rng, s, date(2024, 1, 2), T0.date())]
    )
    await upsert_symbols(portable_db.pool, REFERENCE)
    await upsert_bars(portable_db.pool, Timeframe.M1, minutes, portable_db.backend)
    await upsert_bars(portable_db.pool, Timeframe.D1, days, portable_db.backend)
    await upsert_bars(portable_db.pool, Timeframe.M1, [SOL], portable_db.backend)
    await upsert_bars(portable_db.pool, Timeframe.D1, [ODD], portable_db.backend)
    return Market(portable_db, minutes, days)


def as_rows(symbol: str, bars: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """GraphQL bars in the shape `assert_bars_equal` reads."""
    return [
        {
            "symbol": symbol,
            "time": parse_time(b["time"]),
            **{k: b[k] for k in ("open", "high", "low", "close", "volume", "vwap", "trades")},
            "bar_count": b["barCount"],
        }
        for b in bars
    ]


def expected_flags(bars: list[BarIn], timeframe: Timeframe) -> list[tuple[Any, ...]]:
    """(time, qualityScore, gapDetected, volumeAnomaly, validationNotes) per expected bar:
    a rollup has its worst score, any flag of its members, and no notes."""
    groups: dict[tuple[str, datetime], list[BarIn]] = defaultdict(list)
    for bar in bars:
        key = bar.time if timeframe in BASE_TIMEFRAMES else bucket_start(timeframe, bar.time)
        groups[(bar.symbol, key)].append(bar)
    out = []
    for (symbol, bucket), members in sorted(groups.items()):
        if timeframe in BASE_TIMEFRAMES:
            (bar,) = members
            out.append(
                (bar.time, bar.quality_score, bar.gap_detected, bar.volume_anomaly,
                 bar.validation_notes)
            )  # fmt: skip
        else:
            out.append(
                (
                    label(symbol, timeframe, bucket),
                    min(b.quality_score for b in members),
                    any(b.gap_detected for b in members),
                    any(b.volume_anomaly for b in members),
                    None,
                )
            )
    return out


# -- data in every field ----------------------------------------------------------------------


async def test_every_timeframe_returns_the_rollup_of_the_stored_bars(market: Market) -> None:
    query = f"""
    query($ticker: String!, $tf: Timeframe!) {{
      bars(ticker: $ticker, timeframe: $tf, limit: 100000) {{ {BAR_FIELDS} }}
    }}
    """
    for timeframe in Timeframe:
        for symbol in MINUTE_SYMBOLS:
            body = await market.run(query, {"ticker": symbol, "tf": timeframe.name})
            assert "errors" not in body, (timeframe, body)
            bars = body["data"]["bars"]
            stored = market.of(symbol, timeframe)
            expected = expected_rollup(stored, timeframe)
            assert len(bars) == len(expected) > 0, (timeframe, symbol)
            assert_bars_equal(as_rows(symbol, bars), expected, (timeframe, symbol))
            flags = [
                (parse_time(b["time"]), b["qualityScore"], b["gapDetected"], b["volumeAnomaly"],
                 b["validationNotes"])
                for b in bars
            ]  # fmt: skip
            assert flags == expected_flags(stored, timeframe), (timeframe, symbol)


INTRADAY_RANGE = (T0 + timedelta(hours=5), T0 + timedelta(hours=30))
DAILY_RANGE = (datetime(2024, 2, 7, tzinfo=UTC), datetime(2024, 4, 15, tzinfo=UTC))


@pytest.mark.parametrize("timeframe", list(Timeframe), ids=lambda t: t.name)
async def test_every_timeframe_within_a_range(market: Market, timeframe: Timeframe) -> None:
    """[from, to) holds the bars whose time (bucket label) falls in it, whatever the level."""
    daily = timeframe in (Timeframe.D1, Timeframe.W1, Timeframe.MO1)
    start, end = DAILY_RANGE if daily else INTRADAY_RANGE
    body = await market.run(
        f"""query($ticker: String!, $tf: Timeframe!, $from: DateTime!, $to: DateTime!) {{
          both: bars(ticker: $ticker, timeframe: $tf, from: $from, to: $to, limit: 30000) {{
            {BAR_FIELDS}
          }}
          since: bars(ticker: $ticker, timeframe: $tf, from: $from, limit: 30000) {{ time }}
          until: bars(ticker: $ticker, timeframe: $tf, to: $to, limit: 30000) {{ time }}
        }}""",
        {"ticker": "AAPL", "tf": timeframe.name, "from": start.isoformat(), "to": end.isoformat()},
    )
    assert "errors" not in body, body
    every = expected_rollup(market.of("AAPL", timeframe), timeframe)
    inside = [b for b in every if start <= b.time < end]
    assert inside and len(inside) < len(every)
    assert_bars_equal(as_rows("AAPL", body["data"]["both"]), inside, timeframe)
    since = [parse_time(b["time"]) for b in body["data"]["since"]]
    until = [parse_time(b["time"]) for b in body["data"]["until"]]
    assert since == [b.time for b in every if b.time >= start]
    assert until == [b.time for b in every if b.time < end]


async def test_symbol_fields_come_from_reference_data_or_the_ticker(market: Market) -> None:
    fields = "ticker name market primaryExchange currency active"
    body = await market.run(
        f"""{{
          apple: symbol(ticker: "AAPL") {{ {fields} }}
          microsoft: symbol(ticker: "MSFT") {{ {fields} }}
          euro: symbol(ticker: "C:EURUSD") {{ {fields} }}
          spx: symbol(ticker: "I:SPX") {{ {fields} }}
          bitcoin: symbol(ticker: "X:BTCUSD") {{ {fields} }}
        }}"""
    )
    assert "errors" not in body, body
    assert body["data"] == {
        "apple": {
            "ticker": "AAPL", "name": "Apple Inc.", "market": "STOCKS",
            "primaryExchange": "XNAS", "currency": "usd", "active": True,
        },
        "microsoft": {
            "ticker": "MSFT", "name": "Microsoft Corp.", "market": "STOCKS",
            "primaryExchange": "XNAS", "currency": "usd", "active": False,
        },
        "euro": {
            "ticker": "C:EURUSD", "name": "Euro - United States Dollar", "market": "FX",
            "primaryExchange": None, "currency": "usd", "active": True,
        },
        "spx": {
            "ticker": "I:SPX", "name": "S&P 500 (100% large caps)", "market": "INDICES",
            "primaryExchange": None, "currency": None, "active": True,
        },
        "bitcoin": {
            "ticker": "X:BTCUSD", "name": "Bitcoin - United States Dollar", "market": "CRYPTO",
            "primaryExchange": None, "currency": "usd", "active": True,
        },
    }  # fmt: skip


async def test_a_ticker_with_bars_but_no_reference_data_is_known(market: Market) -> None:
    body = await market.run(
        '{ symbol(ticker: "X:SOLUSD") { ticker name market primaryExchange currency active'
        " latestBar(timeframe: M1) { time close } } }"
    )
    assert body["data"]["symbol"] == {
        "ticker": "X:SOLUSD", "name": None, "market": "CRYPTO", "primaryExchange": None,
        "currency": None, "active": True,
        "latestBar": {"time": "2024-05-06T00:00:00Z", "close": 1.5},
    }  # fmt: skip


async def test_latest_bar_is_the_newest_bar_with_every_field(market: Market) -> None:
    body = await market.run(
        f"""{{
          symbol(ticker: "X:BTCUSD") {{
            m1: latestBar(timeframe: M1) {{ {BAR_FIELDS} }}
            h4: latestBar(timeframe: H4) {{ {BAR_FIELDS} }}
            d1: latestBar(timeframe: D1) {{ {BAR_FIELDS} }}
          }}
        }}"""
    )
    assert "errors" not in body, body
    got = body["data"]["symbol"]
    for alias, timeframe in (("m1", Timeframe.M1), ("h4", Timeframe.H4), ("d1", Timeframe.D1)):
        stored = market.of("X:BTCUSD", timeframe)
        assert_bars_equal(
            as_rows("X:BTCUSD", [got[alias]]), expected_rollup(stored, timeframe)[-1:], alias
        )
        bar = got[alias]
        assert (
            parse_time(bar["time"]), bar["qualityScore"], bar["gapDetected"],
            bar["volumeAnomaly"], bar["validationNotes"],
        ) == expected_flags(stored, timeframe)[-1]  # fmt: skip


def summary_of(bars: list[BarIn]) -> dict[str, Any]:
    with_vwap = [b for b in bars if b.vwap is not None]
    vwap_volume = sum(b.volume for b in with_vwap)
    trades = [b.trades for b in bars if b.trades is not None]
    return {
        "open": bars[0].open,
        "high": max(b.high for b in bars),
        "low": min(b.low for b in bars),
        "close": bars[-1].close,
        "volume": sum(b.volume for b in bars),
        "vwap": sum(b.vwap * b.volume for b in with_vwap) / vwap_volume  # type: ignore[operator,misc]
        if vwap_volume
        else None,
        "trades": sum(trades) if trades else None,
        "barCount": len(bars),
    }


def assert_aggregate(got: dict[str, Any], bars: list[BarIn]) -> None:
    expected = summary_of(bars)
    for name in ("open", "high", "low", "close", "trades", "barCount"):
        assert got[name] == expected[name], name
    for name in ("volume", "vwap"):
        assert got[name] == pytest.approx(expected[name], rel=1e-9), name
    assert got["change"] == pytest.approx(expected["close"] - expected["open"], rel=1e-9)
    assert got["changePercent"] == pytest.approx(
        (expected["close"] - expected["open"]) / expected["open"] * 100, rel=1e-9
    )


@pytest.mark.parametrize(
    ("start", "end", "source"),
    [
        (T0 + timedelta(minutes=3), T0 + timedelta(hours=2, minutes=1), Timeframe.M1),
        (T0 + timedelta(hours=1), T0 + timedelta(hours=3), Timeframe.H1),
        (T0, T0 + timedelta(days=1), Timeframe.H4),
    ],
)
async def test_aggregate_summarises_the_window_in_every_field(
    market: Market, start: datetime, end: datetime, source: Timeframe
) -> None:
    window = {"from": start.isoformat(), "to": end.isoformat()}
    body = await market.run(
        f"""query($from: DateTime!, $to: DateTime!) {{
          symbol(ticker: "X:BTCUSD") {{ aggregate(from: $from, to: $to) {{ {AGGREGATE_FIELDS} }} }}
          aggregates(tickers: ["ZZZZ", "X:BTCUSD", "AAPL"], from: $from, to: $to) {{
            {AGGREGATE_FIELDS}
          }}
        }}""",
        window,
    )
    assert "errors" not in body, body
    got = body["data"]["symbol"]["aggregate"]
    inside = [b for b in market.of("X:BTCUSD") if start <= b.time < end]
    assert_aggregate(got, inside)
    assert got["ticker"] == "X:BTCUSD"
    assert (parse_time(got["from"]), parse_time(got["to"])) == (start, end)
    assert got["sourceTimeframe"] == source.name
    # built from `source` bars: first and last bar times are those bars' starts
    first, last = inside[0].time, inside[-1].time
    assert parse_time(got["firstBarTime"]) == (
        first if source is Timeframe.M1 else bucket_start(source, first)
    )
    assert parse_time(got["lastBarTime"]) == (
        last if source is Timeframe.M1 else bucket_start(source, last)
    )
    # the root field: one summary per ticker with data in the window, in the order asked
    aapl = [b for b in market.of("AAPL") if start <= b.time < end]
    summaries = body["data"]["aggregates"]
    assert [s["ticker"] for s in summaries] == ["X:BTCUSD"] + (["AAPL"] if aapl else [])
    assert summaries[0] == got
    if aapl:
        assert_aggregate(summaries[1], aapl)


async def test_daily_aggregate_over_whole_months(market: Market) -> None:
    body = await market.run(
        '{ symbol(ticker: "AAPL") { aggregate(from: "2024-02-01T00:00:00Z",'
        f' to: "2024-04-01T00:00:00Z", basis: D1) {{ {AGGREGATE_FIELDS} }} }} }}'
    )
    assert "errors" not in body, body
    got = body["data"]["symbol"]["aggregate"]
    start, end = datetime(2024, 2, 1, tzinfo=UTC), datetime(2024, 4, 1, tzinfo=UTC)
    assert_aggregate(got, [b for b in market.of("AAPL", Timeframe.D1) if start <= b.time < end])
    assert got["sourceTimeframe"] == "MO1"


async def test_aggregate_basis_must_be_a_base_timeframe(market: Market) -> None:
    body = await market.run(
        '{ symbol(ticker: "AAPL") { aggregate(from: "2024-05-06T00:00:00Z",'
        ' to: "2024-05-07T00:00:00Z", basis: H1) { close } } }'
    )
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "basis must be M1" in messages(body)


async def test_order_desc_and_limit_give_the_newest_bars_first(market: Market) -> None:
    start, end = T0 + timedelta(hours=1), T0 + timedelta(hours=3)
    body = await market.run(
        """query($from: DateTime, $to: DateTime) {
          newest: bars(ticker: "X:BTCUSD", timeframe: M1, limit: 3, order: DESC) { time close }
          oldest: bars(ticker: "X:BTCUSD", timeframe: M1, limit: 3) { time close }
          inRange: bars(ticker: "X:BTCUSD", timeframe: M5, from: $from, to: $to, limit: 4,
                        order: DESC) { time }
          all: bars(ticker: "X:BTCUSD", timeframe: H1, from: $from, to: $to) { time }
        }""",
        {"from": start.isoformat(), "to": end.isoformat()},
    )
    assert "errors" not in body, body
    stored = market.of("X:BTCUSD")
    pairs = [(b.time, b.close) for b in stored]
    data = body["data"]
    assert [(parse_time(b["time"]), b["close"]) for b in data["newest"]] == pairs[::-1][:3]
    assert [(parse_time(b["time"]), b["close"]) for b in data["oldest"]] == pairs[:3]
    five = [b.time for b in expected_rollup(stored, Timeframe.M5) if start <= b.time < end]
    assert [parse_time(b["time"]) for b in data["inRange"]] == five[::-1][:4]
    assert [parse_time(b["time"]) for b in data["all"]] == [start, start + timedelta(hours=1)]


# -- unknown tickers and search ---------------------------------------------------------------


async def test_unknown_tickers_are_null_alone_and_listed_with_no_data(market: Market) -> None:
    body = await market.run(
        """{
          symbol(ticker: "ZZZZ") { ticker }
          symbols(tickers: ["ZZZZ", "AAPL", "ZZZZ"]) {
            ticker name market active
            bars(timeframe: D1, limit: 1) { time }
            latestBar { time }
            aggregate(from: "2024-01-01T00:00:00Z", to: "2024-06-01T00:00:00Z", basis: D1) {
              barCount
            }
          }
          bars(ticker: "ZZZZ") { time }
        }"""
    )
    assert "errors" not in body, body
    data = body["data"]
    assert data["symbol"] is None
    assert data["bars"] == []
    unknown, apple = data["symbols"]  # duplicates removed, order kept
    assert unknown == {
        "ticker": "ZZZZ", "name": None, "market": "STOCKS", "active": True, "bars": [],
        "latestBar": None, "aggregate": None,
    }  # fmt: skip
    assert apple["name"] == "Apple Inc."
    assert apple["bars"] and apple["latestBar"] and apple["aggregate"]["barCount"] > 0


@pytest.mark.parametrize("ticker", ["aapl", "AAPL BAD", "X:", "A" * 21, ""])
async def test_malformed_tickers_are_bad_user_input(market: Market, ticker: str) -> None:
    body = await market.run("query($t: String!) { symbol(ticker: $t) { ticker } }", {"t": ticker})
    assert error_codes(body) == ["BAD_USER_INPUT"]
    assert "invalid ticker" in messages(body)


async def test_search_market_and_pagination_over_reference_data(market: Market) -> None:
    query = """
    query($search: String, $market: Market, $first: Int!, $after: String) {
      symbols(search: $search, market: $market, first: $first, after: $after) { ticker }
    }
    """

    async def page(**variables: Any) -> list[str]:
        body = await market.run(query, {"first": 50, **variables})
        assert "errors" not in body, body
        return [s["ticker"] for s in body["data"]["symbols"]]

    everything = sorted(s.ticker for s in REFERENCE)
    assert await page() == everything
    walked: list[str] = []
    after = None
    while True:
        tickers = await page(first=3, after=after)
        walked += tickers
        if len(tickers) < 3:
            break
        after = tickers[-1]
    assert walked == everything  # every ticker once, in order, across pages
    assert await page(market="CRYPTO") == ["X:BTCUSD", "X:ETHUSD"]
    assert await page(market="STOCKS", first=2) == ["AAPL", "AMZN"]
    assert await page(market="STOCKS", first=2, after="AMZN") == ["MSFT", "NVDA"]
    assert await page(search="X:B") == ["X:BTCUSD"]  # a ticker prefix...
    assert await page(search="BTC") == []  # ...only a prefix...
    assert await page(search="corp") == ["MSFT", "NVDA"]  # ...or name, any case
    assert await page(search="bitcoin", market="CRYPTO") == ["X:BTCUSD"]
    assert await page(search="bitcoin", market="FX") == []
    assert await page(search="%") == ["I:SPX"]  # LIKE wildcards are taken literally
    assert await page(search="_") == []


@pytest.mark.parametrize(("first", "ok"), [(1, True), (500, True), (0, False), (501, False)])
async def test_symbols_first_is_between_1_and_500(market: Market, first: int, ok: bool) -> None:
    body = await market.run("query($n: Int!) { symbols(first: $n) { ticker } }", {"n": first})
    if ok:
        assert "errors" not in body, body
        assert len(body["data"]["symbols"]) == min(first, len(REFERENCE))
    else:
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "first must be between 1 and 500" in messages(body)


@pytest.mark.parametrize("search", ["", "x" * 101])
async def test_search_text_is_bounded(market: Market, search: str) -> None:
    body = await market.run("query($s: String) { symbols(search: $s) { ticker } }", {"s": search})
    assert error_codes(body) == ["BAD_USER_INPUT"]


@pytest.mark.parametrize(("count", "ok"), [(MAX_SYMBOLS, True), (MAX_SYMBOLS + 1, False)])
async def test_tickers_list_holds_at_most_500(market: Market, count: int, ok: bool) -> None:
    tickers = [f"T{i}" for i in range(count)]
    body = await market.run(
        "query($t: [String!]!) { symbols(tickers: $t) { ticker } }", {"t": tickers}
    )
    if ok:
        assert "errors" not in body, body
        assert [s["ticker"] for s in body["data"]["symbols"]] == tickers
    else:
        assert error_codes(body) == ["BAD_USER_INPUT"]
        assert "at most 500 symbols" in messages(body)


# -- DateTime -------------------------------------------------------------------------------


async def test_datetimes_are_written_in_utc_with_z(market: Market) -> None:
    body = await market.run(
        """{
          bars(ticker: "X:BTCUSD", timeframe: H1, limit: 1) { time }
          odd: bars(ticker: "X:ODDUSD", limit: 1) { time }
          symbol(ticker: "X:BTCUSD") {
            latestBar(timeframe: H1) { time }
            aggregate(from: "2024-05-06T02:00:00+02:00", to: "2024-05-06T01:30:00-01:00") {
              from to firstBarTime
            }
          }
        }"""
    )
    assert "errors" not in body, body
    data = body["data"]
    assert data["bars"] == [{"time": "2024-05-06T00:00:00Z"}]
    assert data["odd"] == [{"time": "2024-05-06T00:00:00.123456Z"}]
    assert data["symbol"]["latestBar"]["time"] == "2024-05-07T23:00:00Z"
    aggregate = data["symbol"]["aggregate"]  # inputs with offsets come back in UTC
    assert (aggregate["from"], aggregate["to"]) == ("2024-05-06T00:00:00Z", "2024-05-06T02:30:00Z")
    assert aggregate["firstBarTime"].endswith(":00Z")


@pytest.mark.parametrize(
    "value", ["2024-05-06T00:00:00", "2024-05-06", "yesterday", "2024-13-01T00:00:00Z", 1715000000]
)
async def test_datetime_inputs_need_an_iso_instant_with_a_zone(market: Market, value: Any) -> None:
    variable = await market.run(
        'query($f: DateTime) { bars(ticker: "AAPL", from: $f) { time } }', {"f": value}
    )
    assert error_codes(variable) == ["BAD_USER_INPUT"]
    assert variable["data"] is None
    if isinstance(value, str):
        literal = await market.run(f'{{ bars(ticker: "AAPL", from: "{value}") {{ time }} }}')
        assert error_codes(literal) == ["BAD_USER_INPUT"]
    if value == "2024-05-06T00:00:00":
        assert "no time zone" in messages(variable)


@pytest.mark.parametrize("end", ["2024-05-05T00:00:00Z", "2024-05-06T00:00:00Z"])
async def test_end_must_come_after_start(market: Market, end: str) -> None:
    body = await market.run(
        """query($to: DateTime!) {
          bars(ticker: "AAPL", from: "2024-05-06T00:00:00Z", to: $to) { time }
          symbol(ticker: "AAPL") { aggregate(from: "2024-05-06T00:00:00Z", to: $to) { close } }
        }""",
        {"to": end},
    )
    assert error_codes(body) == ["BAD_USER_INPUT", "BAD_USER_INPUT"]
    assert "must be after start" in messages(body)


# -- limits, on both sides -------------------------------------------------------------------


def nested(levels: int) -> str:
    """A document whose selections nest `levels` deep (fields below the root are invented:
    no type in the schema nests deeply enough to reach the limit)."""
    selection = "leaf"
    for i in range(levels - 2):
        selection = f"f{i} {{ {selection} }}"
    return f'{{ symbol(ticker: "AAPL") {{ {selection} }} }}'


async def test_depth_limit(market: Market) -> None:
    at_limit = await market.run(nested(MAX_DEPTH + 1))  # depth counts from 0 at the root
    over = await market.run(nested(MAX_DEPTH + 2))
    assert "exceeds maximum operation depth" not in messages(at_limit)
    assert f"exceeds maximum operation depth of {MAX_DEPTH}" in messages(over)
    assert set(error_codes(over)) == {"BAD_USER_INPUT"}
    assert over["data"] is None


def aliased(count: int) -> str:
    fields = " ".join(f'a{i}: symbol(ticker: "AAPL") {{ ticker }}' for i in range(count))
    return "{ " + fields + " }"


async def test_alias_limit(market: Market) -> None:
    pool = CountingPool(market.db.pool)
    services = make_services(pool, market.db.backend)
    at_limit = await run(SCHEMA, aliased(MAX_ALIASES), services)
    assert "errors" not in at_limit, at_limit
    assert len(at_limit["data"]) == MAX_ALIASES
    pool.statements.clear()
    over = await run(SCHEMA, aliased(MAX_ALIASES + 1), services)
    assert error_codes(over) == ["BAD_USER_INPUT"]
    assert "aliases" in messages(over).lower()
    assert over["data"] is None and pool.statements == []


def token_count(document: str) -> int:
    lexer = Lexer(Source(document))
    count = 0
    while lexer.advance().kind is not TokenKind.EOF:
        count += 1
    return count


def with_tokens(count: int) -> str:
    """A valid document of exactly `count` lexical tokens (repeated list values)."""
    head = '{ symbols(tickers: ["AAPL"'
    tail = "]) { ticker } }"
    document = head + ' "AAPL"' * (count - token_count(head + tail)) + tail
    assert token_count(document) == count
    return document


async def test_token_limit(market: Market) -> None:
    at_limit = await market.run(with_tokens(MAX_TOKENS))
    assert "errors" not in at_limit, messages(at_limit)
    assert at_limit["data"] == {"symbols": [{"ticker": "AAPL"}]}
    over = await market.run(with_tokens(MAX_TOKENS + 1))
    assert over["data"] is None
    assert f"more than {MAX_TOKENS} tokens" in messages(over)
    assert "INTERNAL" not in error_codes(over)  # its code: see the client-mistakes test


COST_CAP = 10


@pytest.mark.parametrize(
    ("query", "variables", "cost"),
    [
        ('{ a: bars(ticker: "AAPL", limit: 9) { time } b: bars(ticker: "AAPL", limit: 1) '
         "{ time } }", {}, 10),
        ('{ a: bars(ticker: "AAPL", limit: 9) { time } b: bars(ticker: "AAPL", limit: 2) '
         "{ time } }", {}, 11),
        ('query($n: Int!) { bars(ticker: "AAPL", limit: $n) { time } }', {"n": 10}, 10),
        ('query($n: Int!) { bars(ticker: "AAPL", limit: $n) { time } }', {"n": 11}, 11),
        ('query($n: Int! = 11) { bars(ticker: "AAPL", limit: $n) { time } }', {}, 11),
        ('{ symbols(tickers: ["AAPL", "MSFT"]) { bars(limit: 5) { time } } }', {}, 10),
        ('{ symbols(tickers: ["AAPL", "MSFT"]) { bars(limit: 5) { time } latestBar { time } } }',
         {}, 12),
        ("{ symbols(first: 2) { bars(limit: 5) { time } } }", {}, 10),
        ("{ symbols(first: 3) { bars(limit: 4) { time } } }", {}, 12),
        ('{ symbols(tickers: ["AAPL"]) { ...B } } fragment B on Symbol { bars(limit: 11) '
         "{ time } }", {}, 11),
        ('query($skip: Boolean!) { a: bars(ticker: "AAPL", limit: 10) { time } '
         'b: bars(ticker: "AAPL", limit: 10) @skip(if: $skip) { time } }', {"skip": True}, 10),
        ('query($skip: Boolean!) { a: bars(ticker: "AAPL", limit: 10) { time } '
         'b: bars(ticker: "AAPL", limit: 10) @skip(if: $skip) { time } }', {"skip": False}, 20),
    ],
)  # fmt: skip
async def test_bars_cost_cap_is_checked_before_any_sql(
    market: Market, query: str, variables: dict[str, Any], cost: int
) -> None:
    pool = CountingPool(market.db.pool)
    body = await run(
        SCHEMA, query, make_services(pool, market.db.backend, max_bars=COST_CAP), variables
    )
    if cost <= COST_CAP:
        assert "errors" not in body, body
        assert pool.statements
    else:
        assert body["data"] is None
        assert body["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT", "cost": cost, "limit": COST_CAP,
        }  # fmt: skip
        assert "over the limit" in messages(body)
        assert pool.statements == []


@pytest.mark.parametrize(("limit", "ok"), [(1, True), (COST_CAP, True), (0, False), (-1, False),
                                           (COST_CAP + 1, False)])  # fmt: skip
async def test_bars_limit_is_between_1_and_the_cap(market: Market, limit: int, ok: bool) -> None:
    body = await market.run(
        'query($n: Int!) { bars(ticker: "X:BTCUSD", timeframe: M1, limit: $n) { time } }',
        {"n": limit},
        max_bars=COST_CAP,
    )
    if ok:
        assert "errors" not in body, body
        assert len(body["data"]["bars"]) == limit
    else:
        assert error_codes(body) == ["BAD_USER_INPUT"]


# -- errors: the client's fault or ours ------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "variables"),
    [
        pytest.param('{ bars(ticker: "AAPL" { time } }', {}, id="syntax"),
        pytest.param("{", {}, id="truncated"),
        pytest.param("query Q($x: ) { __typename }", {}, id="bad-variable"),
        pytest.param(with_tokens(MAX_TOKENS + 1), {}, id="too-many-tokens"),
        pytest.param("{ nope }", {}, id="unknown-root-field"),
        pytest.param('{ symbol(ticker: "AAPL") { ticker nope } }', {}, id="unknown-field"),
        pytest.param('{ bars(ticker: "AAPL", nope: 1) { time } }', {}, id="unknown-argument"),
        pytest.param('{ bars(ticker: "AAPL") }', {}, id="missing-selection"),
        pytest.param("{ bars { time } }", {}, id="missing-argument"),
        pytest.param('{ bars(ticker: "AAPL", timeframe: H2) { time } }', {}, id="bad-enum"),
        pytest.param('{ bars(ticker: "AAPL", limit: "5") { time } }', {}, id="literal-type"),
        pytest.param(
            'query($n: Int!) { bars(ticker: "AAPL", limit: $n) { time } }',
            {"n": "five"},
            id="variable-type",
        ),
        pytest.param(
            'query($n: Int!) { bars(ticker: "AAPL", limit: $n) { time } }',
            {"n": 2**31},
            id="variable-int-overflow",
        ),
        pytest.param(
            'query($n: Int!) { bars(ticker: "AAPL", limit: $n) { time } }', {}, id="missing-var"
        ),
        pytest.param(
            'query($t: Timeframe!) { bars(ticker: "AAPL", timeframe: $t) { time } }',
            {"t": "1h"},
            id="variable-enum",
        ),
        pytest.param(
            'query($n: String) { bars(ticker: "AAPL", limit: $n) { time } }',
            {"n": "5"},
            id="variable-position",
        ),
        pytest.param("query { __typename } query { __typename }", {}, id="two-anonymous"),
        pytest.param("subscription { bars }", {}, id="subscription"),
        pytest.param(
            'query($n: Int) { bars(ticker: "AAPL", limit: $n) { time } }',
            {"n": None},
            id="null-for-defaulted-argument",
        ),
    ],
)
async def test_client_mistakes_are_bad_user_input_never_internal(
    market: Market, document: str, variables: dict[str, Any]
) -> None:
    body = await market.run(document, variables)
    assert body["errors"], body
    assert set(error_codes(body)) == {"BAD_USER_INPUT"}, body["errors"]


async def test_a_failing_resolver_is_masked_and_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    pool = FailingPool("connection to db-7.internal:5432 exploded")
    caplog.set_level(logging.ERROR, logger="schema.extensions")
    body = await run(
        SCHEMA,
        '{ bars(ticker: "AAPL") { time } symbols(search: "A") { ticker } }',
        make_services(pool),
    )
    assert pool.calls == 2
    assert body["data"] in (None, {"bars": None, "symbols": None})
    assert sorted((e["message"], e["extensions"], e["path"]) for e in body["errors"]) == [
        ("Internal server error", {"code": "INTERNAL"}, ["bars"]),
        ("Internal server error", {"code": "INTERNAL"}, ["symbols"]),
    ]
    assert "db-7.internal" not in str(body)  # no details reach the client...
    logged = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(logged) == 2  # ...but every failure is in the log, with its cause
    for record in logged:
        assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
        assert "db-7.internal" in str(record.exc_info[1])
    assert sorted(getattr(r, "path", []) for r in logged) == [["bars"], ["symbols"]]


async def test_a_database_that_is_down_is_unavailable_not_internal(
    server: Server, templates: dict[RollupBackend, Template]
) -> None:
    async with cloned_database(server, templates) as database:
        services = make_services(database.pool, database.backend)
        await database.pool.close()  # as good as a database that went away
        body = await run(
            # `name`: reference data is read (a list of bare tickers needs no statement)
            SCHEMA, '{ bars(ticker: "AAPL") { time } symbols(tickers: ["AAPL"]) { ticker name } }',
            services,
        )  # fmt: skip
    assert body["data"] in (None, {"bars": None, "symbols": None})
    assert sorted((e["extensions"]["code"], e["path"]) for e in body["errors"]) == [
        ("UNAVAILABLE", ["bars"]),
        ("UNAVAILABLE", ["symbols"]),
    ]
    assert all("retry" in e["message"] for e in body["errors"])


async def test_fast_and_stock_execution_agree(market: Market) -> None:
    """The DateTime and float output of the fast path is what stock execution writes."""
    query = f'{{ bars(ticker: "X:BTCUSD", timeframe: M5, limit: 50) {{ {BAR_FIELDS} }} }}'
    stock: strawberry.Schema = build_schema(fast_path=False)
    fast = await market.run(query)
    slow = await run(stock, query, market.services())
    assert fast == slow and len(fast["data"]["bars"]) == 50
