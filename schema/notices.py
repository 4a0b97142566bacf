"""Response extensions with what a client should know about an answer (e.g. fetch-on-miss off)."""

from __future__ import annotations

from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from resolvers.context import RequestContext


class Notices(SchemaExtension):
    """`extensions.fetchOnMiss`: `disabled` on every response when no upstream is configured,
    `notPermitted` when this request would have fetched but the key lacks the `fetch` scope.
    Live subscriptions read the store only, so their messages carry no notice."""

    def get_results(self) -> dict[str, Any]:
        parsed = self.execution_context.graphql_document is not None  # else no operation type
        if parsed and self.execution_context.operation_type is OperationType.SUBSCRIPTION:
            return {}
        return notices(self.execution_context.context)


def notices(context: object) -> dict[str, Any]:
    """The response extensions of a query or mutation run with `context`."""
    if not isinstance(context, RequestContext):
        return {}
    notice = context.fetch.notice
    return {} if notice is None else {"fetchOnMiss": notice.value}
