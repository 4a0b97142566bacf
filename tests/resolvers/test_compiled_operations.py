"""Compiled operations (schema/compiled.py) answer exactly what stock execution answers.

A document runs once to be planned, then again: the second run takes the compiled path when
the document is simple enough. Generated documents of root `bars` fields — aliases, fragments,
`__typename`, literal and variable arguments with right, wrong and out-of-range values, over
rows that the whole-column codecs take and rows only stock completion may judge (NaN,
infinities, 33-bit Ints) — must give the same bytes as stock execution, errors included.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import pytest_asyncio
import strawberry
from hypothesis import HealthCheck
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionResult

from domain.access import Scope
from resolvers.context import Services
from schema import build_schema
from schema.compiling import CompiledOperation
from schema.cost import CostPlans
from schema.direct import DirectPath, DirectSchema
from schema.fast_path import fast_execution_context
from schema.plans import PlannedSchema
from schema.records import read_field
from tests.resolvers.conftest import principal
from tests.support.databases import Database
from tests.support.documents import (
    ODD,
    Document,
    compiled_documents,
    compiled_symbol_documents,
)
from tests.support.graphql import CountingPool, error_codes, execute, make_services
from tests.support.market_cases import encoded, store_cases
from tests.support.properties import check_each_drawn

EXAMPLES = 150
REFUSED = (
    "query($t: String!) { a: bars(ticker: $t, timeframe: M1, limit: 8) { ...F }"
    f' b: bars(ticker: "{ODD}", timeframe: D1) {{ vwap trades }} }}'
    " fragment F on Bar { time high low vwap trades qualityScore }"
)
CHILDREN = (
    "query C($tf: Timeframe) {"
    f' s0: symbols(tickers: ["X:BTCUSD", "{ODD}", "X:NONEUSD"]) {{ ticker __typename'
    " latestBar(timeframe: $tf) { close } d: latestBar(timeframe: M1) { time vwap trades }"
    ' aggregate(from: "2024-05-07T00:00:00Z", to: "2024-05-06T00:00:00Z") { close }'
    ' w: aggregate(from: "2024-05-06T00:00:00Z", to: "2024-05-06T00:04:00Z") { high trades } } }'
)  # errors of each kind: a null argument, a reversed window, refused values (ODD's NaN high)
BARS = "query Q($t: String!) { r: bars(ticker: $t, timeframe: M1, limit: 2) { close } }"


@pytest_asyncio.fixture(loop_scope="session")
async def services(portable_db: Database) -> Services:
    return await store_cases(portable_db)


@pytest.fixture(scope="module")
def stock() -> strawberry.Schema:
    return build_schema(fast_path=False, plans=0)


def compiled_of(schema: strawberry.Schema, text: str) -> list[CompiledOperation | None]:
    assert isinstance(schema, PlannedSchema)
    plan = schema.plans.get(text)
    return [] if plan is None else list(plan.compiled.values())


@dataclass
class Tally:
    """Drawn documents compared with stock execution, and what they covered."""

    stock: strawberry.Schema
    services: Services
    shapes_of: Callable[[Document, dict[str, Any]], dict[str, bool]]
    examples: int = 0
    compiled: int = 0
    with_data: int = 0
    with_errors: int = 0
    shapes: set[str] = field(default_factory=set)

    async def compare(self, document: Document) -> None:
        """The document's answers, planned and then compiled, are stock execution's bytes."""
        planned = build_schema()
        run = (document.text, self.services, document.variables)
        expected = encoded(await execute(self.stock, *run), errors_in_any_order=True)
        for _ in range(2):  # planned on the first run, compiled (if simple enough) for the next
            answer = await execute(planned, *run)
            assert encoded(answer, errors_in_any_order=True) == expected, document
        compiled = compiled_of(planned, document.text)
        body = orjson.loads(expected)
        self.examples += 1
        self.compiled += len(compiled) == 1 and compiled[0] is not None
        self.with_data += body.get("data") is not None
        self.with_errors += "errors" in body
        self.shapes.update(
            shape for shape, present in self.shapes_of(document, body).items() if present
        )


def error_path_lengths(body: dict[str, Any]) -> set[int]:
    return {len(error.get("path", ())) for error in body.get("errors", ())}


async def test_compiled_answers_are_stock_answers(
    services: Services, stock: strawberry.Schema
) -> None:
    def shapes(document: Document, body: dict[str, Any]) -> dict[str, bool]:
        return {
            "fragment": "fragment F" in document.text,
            "variables": bool(document.variables),
            "several roots": "r1:" in document.text,
            "refused values": 3 in error_path_lengths(body),  # an error at [field, index, column]
        }

    tally = Tally(stock, services, shapes)

    # REFUSED is drawn now and then, and always run: refused values (NaN, infinities, a
    # 33-bit Int), under two roots and a fragment, with a variable
    await check_each_drawn(
        compiled_documents(),
        tally.compare,
        always=[Document(REFUSED, {"t": ODD})],
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )

    # valid documents are planned and compiled; some fail on their variables (not planned)
    assert tally.examples >= EXAMPLES, tally
    assert tally.compiled >= EXAMPLES // 2, tally
    assert tally.with_data >= EXAMPLES // 2 and tally.with_errors > 0, tally
    assert tally.shapes == {"fragment", "variables", "several roots", "refused values"}, tally


async def test_compiled_symbols_with_child_objects_answer_as_stock(
    services: Services, stock: strawberry.Schema
) -> None:
    """Root `symbols` whose items' `latestBar` and `aggregate` the compiled operation resolves
    together: the same bytes as stock execution, child errors and refused values included."""

    def shapes(document: Document, body: dict[str, Any]) -> dict[str, bool]:
        return {
            "fragment": "fragment F" in document.text,
            "variables": bool(document.variables),
            "several roots": "s1:" in document.text,
            "child errors": 3 in error_path_lengths(body),
            "refused values": 4 in error_path_lengths(body),
            "objects": any(
                isinstance(value, dict)
                for symbols in (body.get("data") or {}).values()
                for symbol in symbols or ()
                for value in symbol.values()
            ),
        }

    tally = Tally(stock, services, shapes)
    await check_each_drawn(
        compiled_symbol_documents(),
        tally.compare,
        always=[Document(CHILDREN, {"tf": None})],
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    assert tally.examples >= EXAMPLES and tally.compiled >= EXAMPLES // 2, tally
    assert tally.with_data >= EXAMPLES // 2 and tally.with_errors > 0, tally
    assert tally.shapes == {
        "fragment", "variables", "several roots", "child errors", "refused values", "objects"
    }, tally  # fmt: skip


async def test_each_kind_of_child_error_is_answered_as_stock(
    services: Services, stock: strawberry.Schema
) -> None:
    planned = build_schema()
    for _ in range(2):
        answer = await execute(planned, CHILDREN, services, {"tf": None})
    assert compiled_of(planned, CHILDREN) != [None]
    expected = encoded(
        await execute(stock, CHILDREN, services, {"tf": None}), errors_in_any_order=True
    )
    assert encoded(answer, errors_in_any_order=True) == expected
    paths = {tuple(e["path"]) for e in orjson.loads(expected)["errors"]}
    assert {(p[2], len(p)) for p in paths} == {("latestBar", 3), ("aggregate", 3), ("w", 4)}
    assert ("s0", 1, "w", "high") in paths  # ODD's NaN high, refused; the others' answered
    symbols = orjson.loads(expected)["data"]["s0"]
    assert [symbol["w"] is None for symbol in symbols] == [False, True, True]  # no bars: null
    assert [symbol["d"] is None for symbol in symbols] == [False, False, True]


async def compiled_statements(
    query: str, services: Services, stock: strawberry.Schema, database: Database
) -> tuple[ExecutionResult, int]:
    """`query` run compiled (its second run), checked against stock execution, and the
    statements that run read."""
    pool = CountingPool(database.pool)
    counting = make_services(pool, database.backend)
    planned = build_schema()
    await execute(planned, query, counting)
    before = len(pool.statements)
    answer = await execute(planned, query, counting)
    assert compiled_of(planned, query) != [None]
    assert encoded(answer) == encoded(await execute(stock, query, services))
    return answer, len(pool.statements) - before


async def test_child_objects_of_all_items_are_read_in_one_statement_each(
    services: Services, stock: strawberry.Schema, portable_db: Database
) -> None:
    """Every symbol's `latestBar` is one loader batch, and every `aggregate` another, as in
    stock execution: the statement count does not grow with the symbols."""
    tickers = ("X:BTCUSD", "X:ETHUSD", "X:NONEUSD", ODD)
    counts = []
    for some in (tickers[:1], tickers):
        listed = ", ".join(f'"{t}"' for t in some)
        query = (
            f"{{ symbols(tickers: [{listed}]) {{ ticker latestBar(timeframe: M1) {{ close }}"
            ' aggregate(from: "2024-05-06T00:00:00Z", to: "2024-05-07T00:00:00Z") { close } } }'
        )
        answer, statements = await compiled_statements(query, services, stock, portable_db)
        counts.append(statements)
    found = [symbol["latestBar"] is not None for symbol in answer.data["symbols"]]  # type: ignore[index]
    assert found == [True, True, False, True]
    assert counts == [2, 2]  # latest bars, summaries


async def test_a_lone_root_field_that_gathers_its_loads_reads_them_in_one_statement(
    services: Services, stock: strawberry.Schema, portable_db: Database
) -> None:
    """A compiled operation's only root field loads without the loader's turn
    (resolvers/batch_loader.py, `sole_caller`); `aggregates` loads each ticker in a task of
    its own, and those still share one statement."""
    query = (
        '{ aggregates(tickers: ["X:BTCUSD", "X:ETHUSD", "X:NONEUSD"],'
        ' from: "2024-05-06T00:00:00Z", to: "2024-05-07T00:00:00Z") { ticker close } }'
    )
    answer, statements = await compiled_statements(query, services, stock, portable_db)
    assert statements == 1
    assert [a["ticker"] for a in answer.data["aggregates"]] == ["X:BTCUSD", "X:ETHUSD"]  # type: ignore[index]


@pytest.mark.parametrize(
    "query",
    [
        '{ bars(ticker: "AAPL") @include(if: true) { close } }',  # a directive
        '{ symbols(tickers: ["AAPL"]) { bars { close } } }',  # a child field giving a list
        '{ symbols(tickers: ["AAPL"]) { market } }',  # an enum: not a plain column
        '{ symbols(tickers: ["AAPL"]) { aggregate(from: "2024-05-06T00:00:00Z",'
        ' to: "2024-05-07T00:00:00Z") { sourceTimeframe } } }',  # nor in a child object
        '{ barSeries(ticker: "AAPL") { close } }',  # not a list
        '{ bars(ticker: "AAPL") { close } __typename }',  # a root field without a resolver
        '{ a: bars(ticker: "AAPL") { close } b: symbol(ticker: "AAPL") { ticker } }',
    ],
)
async def test_documents_that_are_not_simple_enough_are_not_compiled(
    services: Services, stock: strawberry.Schema, query: str
) -> None:
    planned = build_schema()
    for _ in range(2):
        answer = await execute(planned, query, services)
    assert compiled_of(planned, query) == [None]
    assert encoded(answer) == encoded(await execute(stock, query, services))


async def test_a_compiled_plan_checks_each_callers_permission(portable_db: Database) -> None:
    await store_cases(portable_db)
    closed = make_services(portable_db.pool, portable_db.backend, anonymous_reads=False)
    planned = build_schema()
    reader = principal(Scope.READ)
    variables = {"t": "X:BTCUSD"}
    for _ in range(2):
        allowed = await execute(planned, BARS, closed, variables, principal=reader)
    assert compiled_of(planned, BARS) != [None] and allowed.errors is None
    assert len(allowed.data["r"]) == 2  # type: ignore[index]
    refused = await execute(planned, BARS, closed, variables)
    assert refused.data == {"r": None} and error_codes(orjson.loads(encoded(refused))) == [
        "UNAUTHENTICATED"
    ]
    keyless = await execute(planned, BARS, closed, variables, principal=principal())
    assert error_codes(orjson.loads(encoded(keyless))) == ["FORBIDDEN"]


async def test_variables_are_coerced_for_each_request(
    services: Services, stock: strawberry.Schema
) -> None:
    planned = build_schema()
    await execute(planned, BARS, services, {"t": "X:BTCUSD"})
    answers: list[Any] = []
    for variables in ({"t": "X:ETHUSD"}, {}, {"t": 1}, {"t": "X:BTCUSD", "x": 1}):
        warm = await execute(planned, BARS, services, variables)
        assert encoded(warm) == encoded(await execute(stock, BARS, services, variables))
        answers.append(warm)
    assert compiled_of(planned, BARS) != [None]
    assert answers[0].data["r"] and answers[0].data["r"] != answers[3].data["r"]
    assert answers[1].data is None and answers[2].data is None


async def test_values_only_stock_completion_may_judge_give_its_errors(
    services: Services, stock: strawberry.Schema
) -> None:
    query = f'{{ r: bars(ticker: "{ODD}", timeframe: M1, limit: 8) {{ time high vwap trades }} }}'
    planned = build_schema()
    for _ in range(2):
        warm = await execute(planned, query, services)
    assert compiled_of(planned, query) != [None]
    assert encoded(warm) == encoded(await execute(stock, query, services))
    body = orjson.loads(encoded(warm))
    assert body["data"] == {"r": None} and body["errors"], body


@strawberry.type
class Item:
    close: float


@strawberry.type
class TinyQuery:
    @strawberry.field
    async def items(self, info: strawberry.Info[Any, None], n: int) -> list[Item] | None:
        """Records what a resolver sees of its info."""
        seen.append(
            (
                info.field_name,
                info.variable_values,
                info._raw_info.variable_values,  # what our own code reads (schema/selection.py)
                getattr(info._raw_info, "operation_extensions", "missing"),
                info.path.as_list(),
                [getattr(field, "name", None) for field in info.selected_fields[0].selections],
                info.operation.name.value if info.operation.name else None,
                info.root_value,
            )
        )
        return [Item(close=float(i)) for i in range(n)]


seen: list[tuple[Any, ...]] = []


async def test_a_compiled_resolver_sees_the_info_stock_execution_gives_it(
    services: Services,
) -> None:
    tiny = DirectSchema(
        query=TinyQuery,
        config=StrawberryConfig(default_resolver=read_field),
        execution_context_class=fast_execution_context(),
        direct=DirectPath(CostPlans(), suggestions=True),
    )
    query = "query Items($n: Int!) { a: items(n: $n) { close } }"
    seen.clear()
    answers = [await execute(tiny, query, services, {"n": 2}) for _ in range(2)]
    assert compiled_of(tiny, query) != [None]  # the second run was compiled
    assert answers[0].data == answers[1].data == {"a": [{"close": 0.0}, {"close": 1.0}]}
    expected = ("items", {"n": 2}, {"n": 2}, None, ["a"], ["close"], "Items", None)
    assert seen[0] == seen[1] == expected


async def test_a_schema_built_for_stock_execution_compiles_nothing(services: Services) -> None:
    """The reference of every fast-path comparison (and bench/graphql.py's stock target) must
    stay stock: a planned document is not compiled there."""
    reference = build_schema(fast_path=False)
    for _ in range(2):
        await execute(reference, BARS, services, {"t": "X:BTCUSD"})
    assert isinstance(reference, PlannedSchema) and BARS in reference.plans
    assert compiled_of(reference, BARS) == []
