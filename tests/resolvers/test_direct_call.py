"""Root fields of compiled operations with literal arguments are called directly
(schema/direct_call.py): arguments converted once, the same answers, errors and permission
checks as stock execution, and any field whose Strawberry chain does more goes through it."""

from __future__ import annotations

from typing import Any, NewType

import orjson
import pytest
import pytest_asyncio
import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission
from strawberry.schema.config import StrawberryConfig

from domain.access import Scope
from resolvers.context import Services
from schema import build_schema, direct_call
from schema.compiling import CompiledOperation, RootField
from schema.cost import CostPlans
from schema.direct import DirectPath, DirectSchema
from schema.fast_path import fast_execution_context
from schema.permissions import CanRead
from schema.plans import PlannedSchema
from schema.records import read_field
from tests.resolvers.conftest import principal
from tests.support.databases import Database
from tests.support.graphql import error_codes, execute, make_services
from tests.support.market_cases import encoded, store_cases

LITERAL = '{ r: bars(ticker: "X:BTCUSD", timeframe: M1, limit: 2, order: DESC) { time close } }'
VARIABLES = "query Q($t: String!) { r: bars(ticker: $t, timeframe: M1, limit: 2) { close } }"


@pytest_asyncio.fixture(loop_scope="session")
async def closed(portable_db: Database) -> Services:
    """The store's cases, readable with a `read` key only."""
    await store_cases(portable_db)
    return make_services(portable_db.pool, portable_db.backend, anonymous_reads=False)


def root_fields(schema: strawberry.Schema, text: str) -> list[RootField]:
    """The root fields of the document's compiled operation (it must have been compiled)."""
    assert isinstance(schema, PlannedSchema)
    plan = schema.plans.get(text)
    assert plan is not None
    (compiled,) = plan.compiled.values()
    assert isinstance(compiled, CompiledOperation), "the document was not compiled"
    return list(compiled.fields)


async def test_a_literal_query_is_called_directly_and_checks_each_caller(closed: Services) -> None:
    planned, stock = build_schema(), build_schema(fast_path=False, plans=0)
    reader = principal(Scope.READ)
    for _ in range(2):
        allowed = await execute(planned, LITERAL, closed, principal=reader)
    (field,) = root_fields(planned, LITERAL)
    assert field.call is not None
    assert encoded(allowed) == encoded(await execute(stock, LITERAL, closed, principal=reader))
    assert [bar["close"] for bar in allowed.data["r"]] and len(allowed.data["r"]) == 2  # type: ignore[index]
    for caller, code in ((None, "UNAUTHENTICATED"), (principal(), "FORBIDDEN")):
        refused = await execute(planned, LITERAL, closed, principal=caller)
        assert refused.data == {"r": None}
        assert error_codes(orjson.loads(encoded(refused))) == [code]
        assert encoded(refused) == encoded(await execute(stock, LITERAL, closed, principal=caller))


def memo_tickers(schema: strawberry.Schema) -> list[str]:
    """The tickers of the argument sets VARIABLES' compiled field keeps ([] until compiled)."""
    assert isinstance(schema, PlannedSchema)
    plan = schema.plans.get(VARIABLES)
    if plan is None or not plan.compiled:
        return []
    (field,) = root_fields(schema, VARIABLES)
    assert field.call is not None
    return [value for key in field.call.memo for name, _, value in key if name == "ticker"]  # type: ignore[attr-defined]


async def test_arguments_from_variables_are_converted_once_per_set(
    closed: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(direct_call, "MEMO_SIZE", 2)
    planned, stock = build_schema(), build_schema(fast_path=False, plans=0)
    reader = principal(Scope.READ)
    tickers = ["X:BTCUSD", "X:BTCUSD", "X:ETHUSD", "X:BTCUSD", "X:NONEUSD"]
    kept: list[list[str]] = []
    for ticker in tickers:  # the first run plans the document, the others run it compiled
        variables = {"t": ticker}
        answer = await execute(planned, VARIABLES, closed, variables, principal=reader)
        expected = await execute(stock, VARIABLES, closed, variables, principal=reader)
        assert encoded(answer) == encoded(expected), ticker
        kept.append(memo_tickers(planned))
    assert kept[3] == ["X:ETHUSD", "X:BTCUSD"]  # two sets, as many as it may keep
    assert kept[4] == ["X:BTCUSD", "X:NONEUSD"]  # a third: ETHUSD, the least recently used, went
    refused = await execute(planned, VARIABLES, closed, {"t": "X:BTCUSD"}, principal=principal())
    assert error_codes(orjson.loads(encoded(refused))) == ["FORBIDDEN"]  # checked per caller


class Answers(BasePermission):
    """A permission that answers False instead of raising: only Strawberry's chain knows what
    to do with that."""

    message = "no"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        return False


class Doubling(FieldExtension):
    """An extension the direct call would skip."""

    async def resolve_async(self, next_: Any, source: Any, info: Any, **kwargs: Any) -> Any:
        return [*(await next_(source, info, **kwargs)), *(await next_(source, info, **kwargs))]


@strawberry.type
class Item:
    name: str


@strawberry.input
class Filter:
    prefix: str


seen: list[Any] = []


Bag = NewType("Bag", dict[str, Any])
BAG = strawberry.scalar(
    name="Bag",
    serialize=dict,
    parse_value=dict,
    description="A scalar whose values can be changed in place: never shared between requests.",
)

Raw = NewType("Raw", object)
RAW = strawberry.scalar(
    name="Raw",
    serialize=lambda value: value,
    parse_value=lambda value: value,
    description="A scalar passed on as sent: True, 1 and 1.0 are equal in Python, not here.",
)


@strawberry.type
class TinyQuery:
    @strawberry.field(permission_classes=[CanRead])  # type: ignore[untyped-decorator]
    async def grow(self, info: strawberry.Info[Any, None], names: list[str]) -> list[Item] | None:
        """Changes its own argument: the next request must not see the change."""
        seen.append((list(names), info.field_name, info.path.as_list()))
        names.append("added")
        return [Item(name=name) for name in names]

    @strawberry.field(permission_classes=[Answers])  # type: ignore[untyped-decorator]
    async def guarded(self) -> list[Item] | None:
        return [Item(name="never")]

    @strawberry.field(extensions=[Doubling()])  # type: ignore[untyped-decorator]
    async def doubled(self) -> list[Item] | None:
        return [Item(name="once")]

    @strawberry.field
    async def filtered(self, where: Filter) -> list[Item] | None:
        return [Item(name=where.prefix)]

    @strawberry.field
    async def kind(self, value: Raw) -> list[Item] | None:
        return [Item(name=f"{type(value).__name__} {value!r}")]

    @strawberry.field
    async def take(self, bag: Bag) -> list[Item] | None:
        """Changes its own argument: the next request must not see the change."""
        names = sorted(bag)
        bag["taken"] = True
        return [Item(name=name) for name in names]


def tiny_schema() -> DirectSchema:
    return DirectSchema(
        query=TinyQuery,
        config=StrawberryConfig(default_resolver=read_field, scalar_map={Bag: BAG, Raw: RAW}),
        execution_context_class=fast_execution_context(),
        direct=DirectPath(CostPlans(), suggestions=True),
    )


async def test_a_list_argument_is_the_resolver_s_own_copy_each_time(closed: Services) -> None:
    tiny, query = tiny_schema(), '{ g: grow(names: ["a", "b"]) { name } }'
    seen.clear()
    answers = [
        await execute(tiny, query, closed, principal=principal(Scope.READ)) for _ in range(3)
    ]
    (field,) = root_fields(tiny, query)
    assert field.call is not None
    names = [{"name": "a"}, {"name": "b"}, {"name": "added"}]
    assert [a.data for a in answers] == [{"g": names}] * 3
    assert seen == [(["a", "b"], "grow", ["g"])] * 3  # what the resolver saw, every time
    refused = await execute(tiny, query, closed)
    assert error_codes(orjson.loads(encoded(refused))) == ["UNAUTHENTICATED"]


async def test_fields_whose_chain_does_more_are_left_to_strawberry(closed: Services) -> None:
    tiny = tiny_schema()
    for query, expected in (
        ("{ guarded { name } }", None),
        ("{ doubled { name } }", {"doubled": [{"name": "once"}, {"name": "once"}]}),
        ('{ filtered(where: {prefix: "p"}) { name } }', {"filtered": [{"name": "p"}]}),
    ):
        for _ in range(2):
            answer = await execute(tiny, query, closed)
        (field,) = root_fields(tiny, query)
        assert field.call is None, query
        if expected is None:
            assert answer.errors and answer.data == {"guarded": None}
        else:
            assert answer.data == expected and not answer.errors


async def test_values_that_can_change_in_place_are_never_shared(closed: Services) -> None:
    tiny = tiny_schema()
    for query, variables in (
        ("query T($b: Bag!) { take(bag: $b) { name } }", {"b": {"a": 1}}),
        ("{ take(bag: {a: 1}) { name } }", None),  # a literal, coerced afresh each time too
    ):
        answers = [await execute(tiny, query, closed, variables) for _ in range(3)]
        assert [a.data for a in answers] == [{"take": [{"name": "a"}]}] * 3, query
        (field,) = root_fields(tiny, query)
        assert field.static_arguments is None
        assert field.call is not None and field.call.memo == {}  # converted for each request


async def test_argument_sets_that_python_holds_equal_are_converted_apart(closed: Services) -> None:
    tiny, query = tiny_schema(), "query K($v: Raw!) { kind(value: $v) { name } }"
    for _ in range(2):  # the second time round, each set comes from the memo
        answers = [await execute(tiny, query, closed, {"v": v}) for v in (True, 1, 1.0)]
        assert [a.data for a in answers] == [
            {"kind": [{"name": name}]} for name in ("bool True", "int 1", "float 1.0")
        ]
    (field,) = root_fields(tiny, query)
    assert field.call is not None and len(field.call.memo) == 3
