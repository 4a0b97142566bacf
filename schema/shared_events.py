"""Live pushes executed and encoded once per update and distinct subscription, not per subscriber.

The hub hands every subscriber with the same tickers and timeframe the same `Update`. What a
subscription's selection makes of it depends only on the operation (document and name), the
coerced variables and the caller's scopes; so the first subscriber to execute it keeps the
result on the update under that key and the others reuse it. An error-free result's data is a
`SharedData`, which the websocket handler (gateway/graphql_ws.py) encodes once for all of them.
Results with errors, and async executions, stay per subscriber.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from typing import Any

from graphql import ExecutionResult
from graphql.pyutils import AwaitableOrValue
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from resolvers.context import RequestContext
from resolvers.live_hub import Update
from schema.acyclic import AcyclicExecutionContext

Executed = AwaitableOrValue[Any]


class SharedData(dict[str, Any]):
    """A result's data shared by subscribers; `encoded` is filled by the first to send it."""

    __slots__ = ("encoded",)

    def __init__(self, data: dict[str, Any]) -> None:
        super().__init__(data)
        self.encoded: str | None = None


def shared_data(item: object, key: Hashable) -> SharedData | None:
    """The data already executed for share key `key` from `item` (an Update), if any."""
    if not isinstance(item, Update):
        return None
    result = item.shared.get(key)
    data = result.data if result is not None else None
    return data if isinstance(data, SharedData) else None


async def shared_or_lead(
    item: object, key: Hashable
) -> tuple[SharedData | None, asyncio.Future[None] | None]:
    """`item`'s data for `key`, waiting for the subscriber already executing it if there is
    one; else (None, a future the caller resolves once it has executed `item` itself, so the
    subscribers behind it wait instead of executing it too)."""
    data = shared_data(item, key)
    if data is not None or not isinstance(item, Update):
        return data, None
    leader: asyncio.Future[None] | None = item.shared.get(("leader", key))
    if leader is not None:
        await asyncio.shield(leader)
        return shared_data(item, key), None  # None: the leader's result was not shareable
    leader = item.shared[("leader", key)] = asyncio.get_running_loop().create_future()
    return None, leader


class SharedEventsExecutionContext(AcyclicExecutionContext):
    """Strawberry's executor whose subscription events are executed once per share key."""

    share_key: Hashable = None

    def build_per_event_executor(self, payload: Any) -> Any:
        if self.share_key is None:  # once per subscription: copied into each event's executor
            self.share_key = _share_key(self)
            if isinstance(self.context_value, RequestContext):  # for the websocket handler
                self.context_value.share_key = self.share_key
        return super().build_per_event_executor(payload)

    def execute_operation(self, serially: bool | None = None) -> Executed:
        run: Callable[[], Executed] = lambda: super(  # noqa: E731
            SharedEventsExecutionContext, self
        ).execute_operation(serially)
        update = self.root_value
        if not isinstance(update, Update) or self.share_key is None:
            return run()
        cached = update.shared.get(self.share_key)
        if cached is not None:
            return cached
        result = run()
        if (
            self.is_awaitable(result)
            or not isinstance(result, ExecutionResult)
            or result.errors
            or not isinstance(result.data, dict)
        ):
            return result
        shared = ExecutionResult(SharedData(result.data), None, result.extensions)
        update.shared[self.share_key] = shared
        return shared


def _share_key(executor: StrawberryGraphQLCoreExecutionContext) -> Hashable:
    """What a subscriber's result depends on besides the update: operation, variables, scopes."""
    operation = executor.operation
    if operation.loc is None:  # parsed without locations: no text to compare, no sharing
        return None
    source = operation.loc.source.body
    name = operation.name.value if operation.name else None
    principal = getattr(executor.context_value, "principal", None)
    scopes = principal.scopes if principal is not None else None
    variables = repr(sorted(executor.variable_values.coerced.items()))
    return (source, name, variables, scopes)
