"""The cost of an operation: what each shape of document counts, that the cap refuses just over
it and answers at it before any SQL, and that the cost is never below the bars returned."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from graphql import GraphQLError, get_operation_ast, parse
from graphql.execution.values import get_variable_values
from hypothesis import HealthCheck
from hypothesis import strategies as st

from schema import build_schema
from schema.cost import DEFAULT_BARS_LIMIT, DEFAULT_SYMBOLS_FIRST, CostPlans, operation_cost
from storage.bars_write import upsert_bars
from storage.features import RollupBackend
from storage.symbols import SymbolIn, upsert_symbols
from tests.support.bars import minute_bars
from tests.support.databases import Database
from tests.support.graphql import CountingPool, error_codes, make_services, messages, run
from tests.support.properties import check_each_drawn

SCHEMA = build_schema()
T0 = datetime(2024, 5, 6, tzinfo=UTC)
TICKERS = ("AAPL", "X:BTCUSD", "X:ETHUSD")


def cost(
    document: str, variables: dict[str, Any] | None = None, operation: str | None = None
) -> int | list[GraphQLError]:
    """The cost as the cap computes it: variables coerced by graphql-core first (the errors
    when it refuses them: execution refuses the same)."""
    parsed = parse(document)
    found = get_operation_ast(parsed, operation)
    assert found is not None
    coerced = get_variable_values(SCHEMA._schema, found.variable_definitions or (), variables or {})
    if isinstance(coerced, list):
        return coerced
    return operation_cost(SCHEMA._schema, parsed, operation, coerced)


BARS = 'bars(ticker: "AAPL", limit: 7) { time }'
TWO = 'symbols(tickers: ["AAPL", "MSFT"])'


@pytest.mark.parametrize(
    ("document", "variables", "operation", "expected"),
    [
        pytest.param("{ " + BARS + " }", {}, None, 7, id="root-bars"),
        pytest.param('{ barSeries(ticker: "AAPL") { time } }', {}, None,
                     DEFAULT_BARS_LIMIT, id="default-limit"),
        pytest.param("{ " + TWO + " { bars(limit: 5) { time } latestBar { time } } }", {}, None,
                     12, id="symbols-times-bars"),
        pytest.param("{ symbols { latestBar { time } } }", {}, None, DEFAULT_SYMBOLS_FIRST,
                     id="search-page-default-first"),
        pytest.param("{ " + TWO + " { ... on Symbol { bars(limit: 5) { time } } } }", {}, None,
                     10, id="inline-fragment"),
        pytest.param("{ " + TWO + " { ... { bars(limit: 5) { time } } } }", {}, None,
                     10, id="inline-fragment-untyped"),
        pytest.param("{ ... on Query { " + BARS + " } }", {}, None, 7, id="inline-at-root"),
        pytest.param("{ " + TWO + " { ...Outer } } fragment Outer on Symbol { ...Inner latestBar"
                     " { time } } fragment Inner on Symbol { bars(limit: 4) { time } }", {}, None,
                     10, id="fragment-in-fragment"),
        pytest.param("{ a: " + TWO + " { ...B } b: symbols(first: 3) { ...B } }"
                     " fragment B on Symbol { bars(limit: 4) { time } }", {}, None,
                     20, id="fragment-spread-twice"),
        pytest.param("{ a: " + BARS + " b: " + BARS.replace(")", ") @include(if: false)") + " }",
                     {}, None, 7, id="include-false"),
        pytest.param("{ a: " + BARS + " b: " + BARS.replace(")", ") @skip(if: true)") + " }",
                     {}, None, 7, id="skip-true"),
        pytest.param("query($on: Boolean = false) { a: " + BARS + " ... @include(if: $on) { b: "
                     + BARS + " } }", {}, None, 7, id="include-on-inline-fragment-by-default"),
        pytest.param("query($on: Boolean = false) { a: " + BARS + " ... @include(if: $on) { b: "
                     + BARS + " } }", {"on": True}, None, 14, id="include-on-inline-fragment"),
        pytest.param("{ " + TWO + " { ...F @skip(if: true) latestBar { time } } }"
                     " fragment F on Symbol { bars { time } }", {}, None, 2,
                     id="skip-on-spread"),
        pytest.param("query Small { bars(ticker: \"AAPL\", limit: 1) { time } }"
                     " query Big { bars(ticker: \"AAPL\", limit: 900) { time } }", {}, "Small",
                     1, id="operation-name-small"),
        pytest.param("query Small { bars(ticker: \"AAPL\", limit: 1) { time } }"
                     " query Big { bars(ticker: \"AAPL\", limit: 900) { time } }", {}, "Big",
                     900, id="operation-name-big"),
        pytest.param('query($n: Int = 11) { bars(ticker: "AAPL", limit: $n) { time } }', {}, None,
                     11, id="variable-default"),
        pytest.param('query($n: Int = 11) { bars(ticker: "AAPL", limit: $n) { time } }',
                     {"n": 3}, None, 3, id="variable-over-default"),
        pytest.param('query($n: Int) { bars(ticker: "AAPL", limit: $n) { time } }', {}, None,
                     DEFAULT_BARS_LIMIT, id="absent-variable-argument-default"),
        pytest.param('query($n: Int!) { bars(ticker: "AAPL", limit: $n) { time } }',
                     {"n": 100000.0}, None, 100000, id="integral-float-as-execution-uses-it"),
        pytest.param('query($f: Int!) { symbols(first: $f) { latestBar { time } } }',
                     {"f": 500.0}, None, 500, id="integral-float-first"),
        pytest.param('query($t: [String!]!) { symbols(tickers: $t) { bars(limit: 2) { time } } }',
                     {"t": "AAPL"}, None, 2, id="single-value-as-list"),
        pytest.param('{ aggregates(tickers: ["A", "B"], from: "2024-01-01T00:01:00Z",'
                     ' to: "2024-01-01T04:01:00Z") { close } }', {}, None, 2 * 24,
                     id="aggregates-minute-rows"),
        pytest.param('{ aggregates(tickers: ["A", "B"], from: "2024-01-01T00:00:00Z",'
                     ' to: "2024-01-01T04:00:00Z") { close } }', {}, None, 2 * 1,
                     id="aggregates-read-from-4h"),
        pytest.param('{ symbols(first: 3) { aggregate(from: "2024-01-01T00:00:00Z",'
                     ' to: "2024-04-01T00:00:00Z", basis: D1) { close } } }', {}, None, 3 * 1,
                     id="aggregate-read-from-months"),
        pytest.param('{ symbols(first: 3) { aggregate(from: "2024-01-01T00:00:00Z",'
                     ' to: "2024-03-01T00:00:00Z", basis: M1) { close } } }', {}, None,
                     3 * (60 * 6 // 10), id="aggregate-read-from-4h"),
        pytest.param('{ aggregates(tickers: ["A"], from: "1969-12-31T23:59:00Z",'
                     ' to: "2024-01-01T00:01:00Z") { close } }', {}, None, 0,
                     id="window-validation-refuses-with-its-own-message"),
        pytest.param('{ aggregates(tickers: ["A"], from: "2024-01-01T00:00:00Z",'
                     ' to: "2024-01-01T00:00:00Z") { close } }', {}, None, 0,
                     id="empty-window"),
        pytest.param('{ aggregates(tickers: ["A"], from: "1970-01-01T00:00:00Z",'
                     ' to: "1970-01-01T00:10:00Z") { close } }', {}, None, 1,
                     id="window-from-the-earliest-time"),
        pytest.param('{ aggregates(tickers: ["A"], from: "2199-12-31T23:50:00Z",'
                     ' to: "2200-01-01T00:00:00Z") { close } }', {}, None, 1,
                     id="window-to-the-last-time"),
        pytest.param('{ aggregates(tickers: ["A"], from: "2199-12-31T23:50:00Z",'
                     ' to: "2200-01-01T00:01:00Z") { close } }', {}, None, 0,
                     id="window-past-the-last-time-refused-with-its-own-message"),
        pytest.param('{ bars(ticker: "AAPL", limit: 0) { time } }', {}, None, 0, id="limit-0"),
        pytest.param("{ symbols(first: 0) { latestBar { time } } }", {}, None, 0, id="first-0"),
        pytest.param("query($s: Boolean!) { a: " + BARS + " b: "
                     + BARS.replace(")", ") @skip(if: $s)") + " }", {"s": True}, None, 7,
                     id="skip-by-variable"),
        pytest.param("query($s: Boolean!) { a: " + BARS + " b: "
                     + BARS.replace(")", ") @skip(if: $s)") + " }", {"s": False}, None, 14,
                     id="not-skipped-by-variable"),
        pytest.param('query($t: String = "AAPL") { a: bars(ticker: $t, limit: 3) { time } b: '
                     + BARS + " }", {"t": None}, None, 7,
                     id="a-field-execution-refuses-counts-nothing"),
        pytest.param('{ symbol(ticker: "AAPL") { bars(limit: 5) { time } latestBar { time } } }',
                     {}, None, 6, id="one-symbol"),
        pytest.param('query($on: Boolean!) { symbol(ticker: "AAPL") @include(if: $on)'
                     ' { bars(limit: 5) { time } } }', {"on": False}, None, 0,
                     id="one-symbol-not-included"),
        pytest.param("{ __typename me { name } }", {}, None, 0, id="no-bars"),
    ],
)  # fmt: skip
def test_cost_of_each_shape(
    document: str, variables: dict[str, Any], operation: str | None, expected: int
) -> None:
    assert cost(document, variables, operation) == expected


@pytest.mark.parametrize("value", [2.5, "100000", True, float("inf")])
def test_a_value_execution_refuses_is_refused_before_costing(value: Any) -> None:
    refused = cost('query($n: Int!) { bars(ticker: "AAPL", limit: $n) { time } }', {"n": value})
    assert isinstance(refused, list) and "Int cannot represent" in refused[0].message


def test_plans_are_kept_per_document_and_bounded() -> None:
    plans = CostPlans(maxsize=2)
    documents = [parse(f'{{ bars(ticker: "AAPL", limit: {n}) {{ time }} }}') for n in (1, 2, 3)]
    first = [plans.plan(SCHEMA._schema, d, None) for d in documents]
    assert plans.plan(SCHEMA._schema, documents[2], None) is first[2]  # kept
    assert plans.plan(SCHEMA._schema, documents[1], None) is first[1]  # the two latest kept
    again = plans.plan(SCHEMA._schema, documents[0], None)  # dropped, so planned anew
    assert again is not first[0] and again == first[0]
    equal_text = parse('{ bars(ticker: "AAPL", limit: 3) { time } }')  # another object
    assert plans.plan(SCHEMA._schema, equal_text, None) is not first[2]


def test_each_operation_of_a_document_has_its_plan() -> None:
    """The same document object asked for with another `operationName` is costed by that
    operation, not by the plan kept for the first."""
    plans = CostPlans()
    document = parse(
        'query Small { bars(ticker: "AAPL", limit: 1) { time } }'
        ' query Big { bars(ticker: "AAPL", limit: 900) { time } }'
    )
    small, big = (plans.plan(SCHEMA._schema, document, name) for name in ("Small", "Big"))
    assert (len(small.root), len(big.root)) == (1, 1) and small != big
    assert plans.plan(SCHEMA._schema, document, "Small") is small


def test_each_fragment_is_planned_once_however_often_it_is_spread() -> None:
    """40 fragments each spreading the one below twice: 2**40 bars, costed at once (planning
    a fragment per spread would take 2**40 steps and hang the request)."""
    levels = 40
    below = " ".join(
        f"fragment F{i} on Query {{ ...F{i - 1} ...F{i - 1} }}" for i in range(1, levels + 1)
    )
    document = f"{{ ...F{levels} }} fragment F0 on Query {{ {BARS} }} {below}"
    assert cost(document) == 7 * 2**levels


async def test_without_a_request_context_nothing_runs_uncapped() -> None:
    """Wiring the schema into a server that passes another context is refused, not uncapped."""
    document = '{ bars(ticker: "AAPL", limit: 100000) { time } }'
    result = await SCHEMA.execute(document, context_value={})
    assert result.data is None and [e.message for e in result.errors or []] == [
        "BarsCostLimit needs a RequestContext (resolvers.context)"
    ]


CAP = 20


@dataclass
class Market:
    database: Database

    async def run(
        self, document: str, variables: dict[str, Any] | None = None, *, cap: int = CAP
    ) -> tuple[dict[str, Any], list[str]]:
        pool = CountingPool(self.database.pool)
        services = make_services(pool, RollupBackend.PORTABLE, max_bars=cap)
        body = await run(SCHEMA, document, services, variables)
        return body, pool.statements


@pytest_asyncio.fixture(loop_scope="session")
async def market(portable_db: Database) -> Market:
    await upsert_symbols(portable_db.pool, [SymbolIn(t, t, "crypto") for t in TICKERS])
    rng = random.Random(3)
    for ticker in TICKERS:
        bars = minute_bars(rng, ticker, T0, T0 + timedelta(days=1), gap_chance=0.3)
        await upsert_bars(portable_db.pool, "1m", bars, RollupBackend.PORTABLE)
    return Market(portable_db)


LIMITED = 'query($n: Int!) { bars(ticker: "X:BTCUSD", timeframe: M1, limit: $n) { time } }'


@pytest.mark.parametrize(("value", "refused"), [(CAP, False), (float(CAP), False),
                                                (CAP + 1, True), (CAP + 1.0, True)])  # fmt: skip
async def test_the_cap_holds_for_int_and_float_variables(
    market: Market, value: float, refused: bool
) -> None:
    body, statements = await market.run(LIMITED, {"n": value})
    if refused:
        assert body["data"] is None and statements == []
        assert body["errors"][0]["extensions"] == {
            "code": "BAD_USER_INPUT", "cost": CAP + 1, "limit": CAP,
        }  # fmt: skip
    else:
        assert "errors" not in body, body
        assert len(body["data"]["bars"]) == CAP


MULTI = (
    'query Small { bars(ticker: "X:BTCUSD", timeframe: M1, limit: 1) { time } }'
    f' query Big {{ bars(ticker: "X:BTCUSD", timeframe: M1, limit: {CAP + 1}) {{ time }} }}'
)


@pytest.mark.parametrize(("operation", "refused"), [("Small", False), ("Big", True)])
async def test_the_cap_counts_the_operation_named(
    market: Market, operation: str, refused: bool
) -> None:
    pool = CountingPool(market.database.pool)
    services = make_services(pool, RollupBackend.PORTABLE, max_bars=CAP)
    body = await run(SCHEMA, MULTI, services, operation_name=operation)
    assert (body["data"] is None) is refused, body
    assert (pool.statements == []) is refused


async def test_an_inline_fragment_is_held_to_the_cap(market: Market) -> None:
    inline = "... on Symbol { bars(limit: 11) { time } }"
    document = '{ symbols(tickers: ["AAPL", "X:BTCUSD"]) { ' + inline + " } }"
    body, statements = await market.run(document)
    assert error_codes(body) == ["BAD_USER_INPUT"] and messages(body) == (
        "this query could return up to 22 bars (a summary counts one per 10 rows it reads), over"
        " the limit of 20 per response: narrow the range, lower `limit`, or ask for fewer symbols"
    )
    assert body["errors"][0]["extensions"]["cost"] == 22 and statements == []


async def test_aggregates_are_held_to_the_cap(market: Market) -> None:
    def over_minutes(count: int) -> str:  # from a time no 5-minute bucket starts at
        start = T0 + timedelta(minutes=1)
        window = f'from: "{start.isoformat()}", to: "{start + timedelta(minutes=count)}"'
        return '{ aggregates(tickers: ["AAPL", "X:BTCUSD"], ' + window + ") { close } }"

    at_cap, _ = await market.run(over_minutes(CAP // 2 * 10))  # 2 tickers x 100 rows / 10
    assert "errors" not in at_cap, at_cap
    over, statements = await market.run(over_minutes(CAP // 2 * 10 + 1))
    assert over["errors"][0]["extensions"]["cost"] == CAP + 2 and statements == []


# -- the property: cost >= bars returned -----------------------------------------------------


@st.composite
def bar_fields(draw: st.DrawFn, nested: bool) -> str:
    """A field that returns bars: root `bars`/`barSeries` or, below `symbols`, `bars`/
    `latestBar`; sometimes behind a fragment or a directive."""
    limit = draw(st.integers(1, 40))
    ticker = "" if nested else f'ticker: "{draw(st.sampled_from(TICKERS))}", '
    field = draw(st.sampled_from(["bars", "latestBar"] if nested else ["bars", "barSeries"]))
    if field == "latestBar":
        text = "latestBar(timeframe: M1) { time }"
    else:
        text = f"{field}({ticker}timeframe: M1, limit: {limit}) {{ time }}"
    text = f"ALIAS: {text}"
    wrap = draw(st.sampled_from(["", "inline", "include", "skip"]))
    if wrap == "inline":
        return f"... {{ {text} }}"
    if wrap == "include":
        return f"... @include(if: {draw(st.sampled_from(['true', 'false']))}) {{ {text} }}"
    if wrap == "skip":
        return text.replace(" {", f" @skip(if: {draw(st.sampled_from(['true', 'false']))}) {{", 1)
    return text


@st.composite
def documents(draw: st.DrawFn) -> str:
    roots = draw(st.lists(bar_fields(nested=False), max_size=3))
    for i in range(draw(st.integers(0, 2))):
        inner = " ".join(draw(st.lists(bar_fields(nested=True), min_size=1, max_size=3)))
        if draw(st.booleans()):
            listing = (
                f"tickers: {list(draw(st.lists(st.sampled_from(TICKERS), min_size=1, max_size=4)))}"
            )
        else:
            listing = f"first: {draw(st.integers(1, 4))}"
        roots.append(f"s{i}: symbols({listing.replace(chr(39), chr(34))}) {{ {inner} }}")
    document = "{ __typename " + " ".join(roots) + " }"
    for i in range(document.count("ALIAS:")):
        document = document.replace("ALIAS:", f"a{i}:", 1)  # distinct: no field conflicts
    return document


def bars_returned(value: Any) -> int:
    """Bars in a response body: items of `bars`, non-null `latestBar`s, `barSeries` times."""
    if isinstance(value, list):
        return sum(bars_returned(v) for v in value)
    if not isinstance(value, dict):
        return 0
    if set(value) == {"time"}:
        return 1 if not isinstance(value["time"], list) else len(value["time"])
    return sum(bars_returned(v) for v in value.values())


async def test_the_cost_is_never_below_the_bars_returned(market: Market) -> None:
    seen = {"examples": 0, "bars": 0}

    async def check(document: str) -> None:
        computed = cost(document)
        assert isinstance(computed, int)
        body, _ = await market.run(document, cap=10**6)
        assert "errors" not in body, (document, body)
        returned = bars_returned(body["data"])
        assert computed >= returned, (document, computed, returned)
        if computed:  # the cap uses the same cost: at it answered, just under it refused
            assert "errors" not in (await market.run(document, cap=computed))[0]
            under, statements = await market.run(document, cap=computed - 1)
            assert under["errors"][0]["extensions"]["cost"] == computed and statements == []
        seen["examples"] += 1
        seen["bars"] += returned

    await check_each_drawn(
        documents(),
        check,
        max_examples=60,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )
    assert seen["examples"] >= 60 and seen["bars"] > 500, seen
