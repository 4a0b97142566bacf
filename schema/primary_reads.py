"""A mutation's reads use the primary database, so its answer shows what it just wrote."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from resolvers.context import RequestContext


class MutationsReadPrimary(SchemaExtension):
    """Route every read of a mutation to the primary (queries may use a read replica)."""

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        context = execution.context
        if (
            isinstance(context, RequestContext)
            and execution.operation_type is OperationType.MUTATION
        ):
            context.reads.wrote()
        yield
