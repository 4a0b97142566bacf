"""Who may introspect the schema: everyone, callers with a key, or nobody (INTROSPECTION).

With introspection closed to a caller, "Did you mean 'createApiKey'?" suggestions would still
spell the schema out one name at a time, so error messages lose them too (`ErrorCodes`).
"""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError, validate
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import SchemaExtension

from domain.errors import ErrorCode

KEY_NEEDED = "GraphQL introspection needs an API key (X-API-Key or Authorization: Bearer)"
_MARKERS = ("__schema", "__type")  # `__typename` contains `__type`: the rule decides


class KeyedIntrospection(SchemaExtension):
    """Refuse introspection to callers without a key (UNAUTHENTICATED).

    Listed after ValidationCache, so a document it found invalid keeps its own errors. Keyed
    callers cost nothing; for the others the document is only walked when its text mentions
    an introspection field at all.
    """

    def on_validate(self) -> Iterator[None]:
        self._refuse_anonymous()
        yield

    def _refuse_anonymous(self) -> None:
        context = self.execution_context
        if context.pre_execution_errors or getattr(context.context, "principal", None):
            return
        services = getattr(context.context, "services", None)
        if getattr(services, "anonymous_reads", False):
            return
        document, query = context.graphql_document, context.query or ""
        if document is None or not any(marker in query for marker in _MARKERS):
            return
        refused = validate(context.schema._schema, document, [NoSchemaIntrospectionCustomRule])
        if refused:
            code = {"code": ErrorCode.UNAUTHENTICATED}
            context.pre_execution_errors = [
                GraphQLError(KEY_NEEDED, nodes=refused[0].nodes, extensions=code)
            ]
