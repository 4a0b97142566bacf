"""Helpers for GraphQL tests: run an operation as a client would see it, and count SQL."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

import asyncpg
import orjson
import strawberry
from strawberry.types import ExecutionResult

from domain.access import Principal
from gateway.graphql_view import JSON_OPTIONS
from resolvers.context import Services, make_context
from resolvers.read_through import ReadThrough
from storage.features import RollupBackend

DEFAULT_MAX_BARS = 100_000


@dataclass
class CountingPool:
    """The pool's query methods, recording each statement run (and nothing else reachable).

    Any other attribute (e.g. `acquire`) raises AttributeError, so a code path that runs SQL
    some other way fails loudly instead of going uncounted.
    """

    pool: asyncpg.Pool
    statements: list[str] = field(default_factory=list)

    async def fetch(self, sql: str, *args: Any, **kwargs: Any) -> list[asyncpg.Record]:
        self.statements.append(sql)
        return await self.pool.fetch(sql, *args, **kwargs)

    async def fetchrow(self, sql: str, *args: Any, **kwargs: Any) -> asyncpg.Record | None:
        self.statements.append(sql)
        row: asyncpg.Record | None = await self.pool.fetchrow(sql, *args, **kwargs)
        return row

    async def fetchval(self, sql: str, *args: Any, **kwargs: Any) -> Any:
        self.statements.append(sql)
        return await self.pool.fetchval(sql, *args, **kwargs)

    async def execute(self, sql: str, *args: Any, **kwargs: Any) -> str:
        self.statements.append(sql)
        return await self.pool.execute(sql, *args, **kwargs)

    def get_max_size(self) -> int:
        return self.pool.get_max_size()


class FailingPool:
    """A pool whose every query raises a plain RuntimeError (not a storage error)."""

    def __init__(self, message: str = "connection to the database exploded") -> None:
        self.message = message
        self.calls = 0

    async def _fail(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        raise RuntimeError(self.message)

    fetch = fetchrow = fetchval = execute = _fail


def make_services(
    pool: Any,
    backend: RollupBackend = RollupBackend.PORTABLE,
    *,
    max_bars: int = DEFAULT_MAX_BARS,
    anonymous_reads: bool = True,
    read_through: ReadThrough | None = None,
) -> Services:
    return Services(
        pool=cast(asyncpg.Pool, pool),
        backend=backend,
        read_through=read_through,
        max_bars_per_response=max_bars,
        anonymous_reads=anonymous_reads,
    )


async def execute(
    schema: strawberry.Schema,
    query: str,
    services: Services,
    variables: Mapping[str, Any] | None = None,
    *,
    principal: Principal | None = None,
    operation_name: str | None = None,
) -> ExecutionResult:
    """The one way tests run an operation in-process: a fresh request context, as the
    GraphQL view makes for each HTTP request."""
    return await schema.execute(
        query,
        variable_values=dict(variables or {}),
        context_value=make_context(services, principal),
        operation_name=operation_name,
    )


async def run(
    schema: strawberry.Schema,
    query: str,
    services: Services,
    variables: Mapping[str, Any] | None = None,
    *,
    principal: Principal | None = None,
    operation_name: str | None = None,
) -> dict[str, Any]:
    """Execute `query` and return the response body exactly as the HTTP view would encode it."""
    result = await execute(
        schema, query, services, variables, principal=principal, operation_name=operation_name
    )
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [error.formatted for error in result.errors]
    if result.extensions:
        body["extensions"] = result.extensions
    decoded: dict[str, Any] = orjson.loads(orjson.dumps(body, option=JSON_OPTIONS))
    return decoded


def error_codes(body: dict[str, Any]) -> list[str | None]:
    """`extensions.code` of each error in a response body (None where an error has none)."""
    return [(e.get("extensions") or {}).get("code") for e in body.get("errors") or []]


def messages(body: dict[str, Any]) -> str:
    return " | ".join(e["message"] for e in body.get("errors") or [])


def parse_time(text: str) -> datetime:
    """A DateTime output value: UTC with a `Z`."""
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text)
