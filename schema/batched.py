"""Batch resolvers: a field's values for many sources in one call.

A compiled operation (schema/compiled.py) resolving `latestBar` for 50 symbols called Strawberry's
resolver 50 times, each converting the same arguments and running as a task of its own: two
thirds of the time a symbol cost. A field may name, in its Strawberry metadata, a batch
resolver: given all the sources, the request context and the field's arguments as graphql-core
coerced them (GraphQL names), it returns one outcome per source — the value, or the Exception
the field's own resolver would have raised for it. The field's own resolver is then written as
the batch of one, so both paths share one implementation; the compiled path uses the batch only
when nothing wraps the field (no permission classes, no field extensions).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

from graphql import GraphQLField

BATCH = "marketgraph.batch"
T = TypeVar("T")
BatchResolver = Callable[[Sequence[Any], Any, Mapping[str, Any]], Awaitable[list[Any]]]
"""(sources, request context, coerced arguments) -> one value or Exception per source."""


def batched(resolver: BatchResolver) -> dict[str, Any]:
    """Field metadata naming `resolver` as the field's batch resolver."""
    return {BATCH: resolver}


def batch_of(definition: GraphQLField) -> BatchResolver | None:
    """The batch resolver of a Strawberry field that nothing wraps, else None."""
    field = definition.extensions.get("strawberry-definition")
    if field is None or field.permission_classes or field.extensions:
        return None
    resolver: BatchResolver | None = field.metadata.get(BATCH)
    return resolver


def one(outcomes: list[T | Exception]) -> T:
    """The single outcome of a batch of one, raised when it is an Exception."""
    (outcome,) = outcomes
    if isinstance(outcome, Exception):
        raise outcome
    return outcome
