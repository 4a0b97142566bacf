"""Operation plans: a repeated document skips parsing and validation, and nothing else.

A repeated query also takes the direct path (schema/direct.py: graphql-core without
Strawberry's extension runner), so the warm answers below compare it with stock execution.

Whatever a request brings of its own — variables, the operation it names, its caller — must
count exactly as without plans: the answers through a plan equal those of a schema that keeps
none, limits refuse from a plan as from a cold start, and a plan made for one caller grants
another nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
import strawberry
from graphql import parse, specified_rules, validate
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strawberry.schema.exceptions import CannotGetOperationTypeError

from domain.access import Scope
from domain.introspection import Introspection
from schema import build_schema
from schema.limits import MAX_TOKENS, limit_rules
from schema.plans import OperationNameRequired, OperationPlans, PlannedSchema
from tests.resolvers.conftest import Gateway, principal
from tests.support.documents import Document, documents
from tests.support.graphql import error_codes, execute, make_services, run

BARS = '{ bars(ticker: "X:BTCUSD", timeframe: M1, limit: 2) { close } }'


async def answer(gateway: Gateway, schema: strawberry.Schema, document: Document) -> Any:
    result = await execute(schema, document.text, gateway.services, document.variables)
    # errors of fields that resolve concurrently arrive in database-timing order: sorted
    errors = sorted((e.formatted for e in result.errors or ()), key=orjson.dumps)
    return {"data": result.data, "errors": errors, "extensions": result.extensions}


def plans_of(schema: strawberry.Schema) -> OperationPlans:
    assert isinstance(schema, PlannedSchema)
    return schema.plans


def extensions_made(schema: strawberry.Schema) -> Callable[[], int]:
    """How many times `schema` makes its extensions (once per stock execution) from now on."""
    made = 0
    stock = schema.get_extensions

    def counted(sync: bool = False) -> list[Any]:
        nonlocal made
        made += 1
        return stock(sync)

    schema.get_extensions = counted  # type: ignore[method-assign]
    return lambda: made


@pytest.fixture(scope="module")
def unplanned() -> strawberry.Schema:
    return build_schema(plans=0)


@st.composite
def requests(draw: st.DrawFn) -> Document:
    """Generated documents, sometimes with a variable left out (an error at execution)."""
    document = draw(documents())
    drop: bool = draw(st.booleans())
    if document.variables and drop:
        dropped = draw(st.sampled_from(sorted(document.variables)))
        return Document(
            document.text, {k: v for k, v in document.variables.items() if k != dropped}
        )
    return document


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=requests())
async def test_planned_answers_equal_answers_without_plans(
    gateway: Gateway, unplanned: strawberry.Schema, document: Document
) -> None:
    planned = build_schema()
    expected = await answer(gateway, unplanned, document)
    cold = await answer(gateway, planned, document)
    # planned when valid, limits included (a refused document is refused every time)
    rules = [*specified_rules, *limit_rules()]
    valid = not validate(planned._schema, parse(document.text, max_tokens=MAX_TOKENS), rules)
    assert (document.text in plans_of(planned)) is valid
    made = extensions_made(planned)
    warm = await answer(gateway, planned, document)  # from the plan: the direct path
    assert (made() == 0) is valid, document.text  # no extension instances for a planned query
    assert cold == expected, document.text
    assert warm == expected, document.text
    assert len(plans_of(unplanned)) == 0


@pytest.mark.parametrize(
    "query",
    [
        "{ bars(ticker: 1) { close } }",  # wrong argument type
        "{ nope }",  # unknown field
        "{ bars(ticker: ",  # syntax error
        'query Q($n: Int) { bars(ticker: "X:BTCUSD", timeframe: M1, limit: $m) { close } }',
    ],
)
async def test_invalid_documents_are_refused_alike_every_time_and_never_planned(
    gateway: Gateway, unplanned: strawberry.Schema, query: str
) -> None:
    planned = build_schema()
    expected = await run(unplanned, query, gateway.services)
    assert error_codes(expected) == ["BAD_USER_INPUT"] * len(expected["errors"])
    for _ in range(2):
        assert await run(planned, query, gateway.services) == expected
    assert len(plans_of(planned)) == 0


async def test_each_request_runs_the_operation_it_names(gateway: Gateway) -> None:
    planned = build_schema()
    text = f'query A {BARS} query B {{ symbol(ticker: "AAPL") {{ ticker }} }}'
    for _ in range(2):
        a = await run(planned, text, gateway.services, operation_name="A")
        b = await run(planned, text, gateway.services, operation_name="B")
        assert list(a["data"]) == ["bars"] and b["data"] == {"symbol": {"ticker": "AAPL"}}
        with pytest.raises(CannotGetOperationTypeError):
            await run(planned, text, gateway.services, operation_name="C")
    assert text in plans_of(planned)


async def test_a_document_of_several_operations_must_name_one(gateway: Gateway) -> None:
    """The GraphQL spec's GetOperation: no `operationName`, several operations, an error (not
    the first operation run), from a cold start as from a plan; one operation needs no name."""
    several = f'query A {BARS} query B {{ symbol(ticker: "AAPL") {{ ticker }} }}'
    for schema in (build_schema(), build_schema(plans=0)):
        for _ in range(2):
            with pytest.raises(OperationNameRequired) as refused:
                await run(schema, several, gateway.services)
            assert "Must provide operation name" in refused.value.as_http_error_reason()
            assert (
                "bars" in (await run(schema, several, gateway.services, operation_name="A"))["data"]
            )
            assert (await run(schema, f"query A {BARS}", gateway.services))["data"]["bars"]


def query_number(n: int) -> str:
    return f'{{ bars(ticker: "X:BTCUSD", timeframe: M1, limit: {n}) {{ close }} }}'


async def test_plans_are_bounded_least_recently_used_first(gateway: Gateway) -> None:
    planned = build_schema(plans=2)
    a, b, c = (query_number(n) for n in (1, 2, 3))
    for query in (a, b, a):
        await run(planned, query, gateway.services)
    assert len(plans_of(planned)) == 2  # at the bound: nothing dropped
    await run(planned, c, gateway.services)
    plans = plans_of(planned)
    assert len(plans) == 2 and a in plans and c in plans and b not in plans
    # a dropped document answers as before, and is planned again
    expected = await run(build_schema(plans=0), b, gateway.services)
    assert await run(planned, b, gateway.services) == expected
    assert b in plans_of(planned) and c in plans_of(planned) and a not in plans_of(planned)


async def test_no_plans_are_kept_with_a_size_of_zero(gateway: Gateway) -> None:
    schema = build_schema(plans=0)
    await run(schema, BARS, gateway.services)
    assert len(plans_of(schema)) == 0
    with pytest.raises(ValueError, match="maxsize"):
        OperationPlans(-1)


async def test_a_plan_made_for_an_admin_grants_a_reader_nothing(gateway: Gateway) -> None:
    planned = build_schema()
    query = "{ apiKeys { id } }"
    admin = await run(planned, query, gateway.services, principal=principal(Scope.ADMIN))
    assert "errors" not in admin and query in plans_of(planned)
    reader = await run(planned, query, gateway.services, principal=principal(Scope.READ))
    assert error_codes(reader) == ["FORBIDDEN"] and reader["data"] is None
    anonymous = await run(planned, query, gateway.services)
    assert error_codes(anonymous) == ["UNAUTHENTICATED"]
    again = await run(planned, query, gateway.services, principal=principal(Scope.ADMIN))
    assert again == admin


async def test_the_bars_cap_counts_each_requests_variables_from_a_plan(gateway: Gateway) -> None:
    planned = build_schema()
    services = make_services(gateway.pool, gateway.services.backend, max_bars=10)
    query = 'query($n: Int!) { bars(ticker: "X:BTCUSD", timeframe: M1, limit: $n) { close } }'

    async def with_limit(n: int) -> dict[str, Any]:
        return await run(planned, query, services, {"n": n})

    assert len((await with_limit(10))["data"]["bars"]) == 10  # at the cap: answered
    assert query in plans_of(planned)
    over = await with_limit(11)
    assert error_codes(over) == ["BAD_USER_INPUT"] and over["errors"][0]["extensions"]["cost"] == 11
    assert len((await with_limit(10))["data"]["bars"]) == 10


def aliased(n: int) -> str:
    return "{ " + " ".join(f"a{i}: __typename" for i in range(n)) + " }"


@pytest.mark.parametrize("query", [aliased(31), "{ " + "__typename " * 5000 + "}"])
async def test_static_limits_refuse_from_a_cold_start_and_after(
    gateway: Gateway, query: str
) -> None:
    planned = build_schema()
    await run(planned, aliased(30), gateway.services)  # a document at the alias limit
    assert aliased(30) in plans_of(planned)
    for _ in range(2):
        body = await run(planned, query, gateway.services)
        assert error_codes(body) == ["BAD_USER_INPUT"] and body["data"] is None, body
    assert query not in plans_of(planned)


async def test_introspection_is_never_planned(gateway: Gateway) -> None:
    planned = build_schema(introspection=Introspection.AUTHENTICATED)
    closed = make_services(gateway.pool, gateway.services.backend, anonymous_reads=False)
    query = "{ __schema { queryType { name } } }"
    keyed = await run(planned, query, closed, principal=principal(Scope.READ))
    assert keyed["data"] == {"__schema": {"queryType": {"name": "Query"}}}
    assert query not in plans_of(planned)
    assert error_codes(await run(planned, query, closed)) == ["UNAUTHENTICATED"]
    typename = "{ __typename }"
    assert (await run(planned, typename, closed))["data"] == {"__typename": "Query"}
    assert typename in plans_of(planned)  # `__typename` alone is no introspection


async def test_a_planned_document_of_several_operations_runs_the_one_stock_execution_runs(
    gateway: Gateway, unplanned: strawberry.Schema
) -> None:
    """The operation named: a repeated document, which no longer goes through Strawberry's
    execution, runs the one a cold start runs (without a name: the test above)."""
    planned = build_schema()
    operation_name = "B"
    text = f'query A {BARS} query B {{ symbol(ticker: "AAPL") {{ ticker }} }}'
    expected = await run(unplanned, text, gateway.services, operation_name=operation_name)
    assert "errors" not in expected
    for _ in range(2):
        assert await run(planned, text, gateway.services, operation_name=operation_name) == expected
    assert text in plans_of(planned)
