"""Record which operation a request ran, for the audit trail and the access log."""

from __future__ import annotations

from collections.abc import Iterator

from strawberry.extensions import SchemaExtension

from resolvers.context import RequestContext


class OperationName(SchemaExtension):
    """Copy the executed operation's name (None when anonymous) into the request context."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context.context
        if isinstance(context, RequestContext):
            context.operation = self.execution_context.operation_name
        yield
