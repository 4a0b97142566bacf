"""Batch resolvers (schema/batched.py): a compiled operation resolves a child field of all
items in one call when the field names one and nothing wraps it; otherwise item by item."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
import pytest_asyncio
import strawberry
from strawberry.schema.config import StrawberryConfig

from domain.errors import InvalidInput, NotFound
from resolvers.context import Services
from schema.batched import batch_of, batched
from schema.cost import CostPlans
from schema.direct import DirectPath, DirectSchema
from schema.fast_path import fast_execution_context
from schema.permissions import CanRead
from schema.plans import PlannedSchema
from schema.records import read_field
from tests.support.databases import Database
from tests.support.graphql import execute, make_services

calls: list[int] = []  # sources per batch call; -1 per per-item call


@strawberry.type
class Detail:
    n: int


async def details(items: Sequence[Item], context: Any, arguments: Mapping[str, Any]) -> list[Any]:
    calls.append(len(items))
    if arguments["mode"] == "fail":
        raise InvalidInput("the batch failed")
    outcomes: list[Any] = [
        NotFound(f"no detail for {item.n}") if item.n % 3 == 2 else Detail(n=item.n * 10)
        for item in items
    ]
    return outcomes[1:] if arguments["mode"] == "short" else outcomes


@strawberry.type
class Item:
    n: int

    @strawberry.field(metadata=batched(details))  # type: ignore[untyped-decorator]
    async def detail(self, mode: str = "ok") -> Detail | None:
        calls.append(-1)
        outcome = (await details([self], None, {"mode": mode}))[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome  # type: ignore[no-any-return]

    @strawberry.field(metadata=batched(details), permission_classes=[CanRead])  # type: ignore[untyped-decorator]
    async def guarded(self) -> Detail | None:
        calls.append(-1)
        return Detail(n=self.n)


@strawberry.type
class Query:
    @strawberry.field
    async def items(self, count: int) -> list[Item] | None:
        return [Item(n=i) for i in range(count)]


def tiny() -> DirectSchema:
    return DirectSchema(
        query=Query,
        config=StrawberryConfig(default_resolver=read_field),
        execution_context_class=fast_execution_context(),
        direct=DirectPath(CostPlans(), suggestions=True),
    )


@pytest_asyncio.fixture(loop_scope="session")
async def services(portable_db: Database) -> Services:
    return make_services(portable_db.pool, portable_db.backend)


async def warm(schema: DirectSchema, query: str, services: Services) -> Any:
    """The second run of `query` (compiled), with only its calls recorded."""
    await execute(schema, query, services)
    assert isinstance(schema, PlannedSchema)
    plan = schema.plans.get(query)
    assert plan is not None
    calls.clear()
    answer = await execute(schema, query, services)
    assert list(plan.compiled.values()) != [None], "not compiled"
    return answer


def test_only_a_field_nothing_wraps_offers_its_batch() -> None:
    fields = tiny()._schema.type_map["Item"].fields  # type: ignore[attr-defined]
    assert batch_of(fields["detail"]) is not None
    assert batch_of(fields["guarded"]) is None  # a permission class would be skipped
    assert batch_of(fields["n"]) is None


async def test_all_items_are_resolved_in_one_call(services: Services) -> None:
    answer = await warm(tiny(), "{ items(count: 5) { n detail { n } } }", services)
    assert calls == [5]
    assert answer.data == {
        "items": [
            {"n": 0, "detail": {"n": 0}},
            {"n": 1, "detail": {"n": 10}},
            {"n": 2, "detail": None},
            {"n": 3, "detail": {"n": 30}},
            {"n": 4, "detail": {"n": 40}},
        ]
    }
    assert [(e.message, e.path) for e in answer.errors] == [
        ("no detail for 2", ["items", 2, "detail"])
    ]


async def test_a_failed_batch_is_each_items_error(services: Services) -> None:
    answer = await warm(tiny(), '{ items(count: 2) { detail(mode: "fail") { n } } }', services)
    assert answer.data == {"items": [{"detail": None}, {"detail": None}]}
    assert sorted((e.message, tuple(e.path)) for e in answer.errors) == [
        ("the batch failed", ("items", 0, "detail")),
        ("the batch failed", ("items", 1, "detail")),
    ]


async def test_a_guarded_field_is_resolved_item_by_item(services: Services) -> None:
    answer = await warm(tiny(), "{ items(count: 3) { guarded { n } } }", services)
    assert calls == [-1, -1, -1]
    assert answer.data == {"items": [{"guarded": {"n": i}} for i in range(3)]}


@pytest.mark.filterwarnings("ignore")
async def test_a_batch_giving_too_few_outcomes_is_an_error_not_a_wrong_answer(
    services: Services,
) -> None:
    answer = await warm(tiny(), '{ items(count: 3) { detail(mode: "short") { n } } }', services)
    assert answer.data is None
    assert "gave 2 outcomes for 3 sources" in answer.errors[0].message
