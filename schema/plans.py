"""Operation plans: what a document needs for execution, prepared once per distinct document.

Parsing and validating a small query cost more than running it (a 1-bar query spent half its
time in `validate()`). Everything they establish depends on the document text alone — syntax,
validity against the schema, the depth, alias and token limits — so a document that passed them
once passes them every time. `PlannedSchema` keeps the parsed document of each one that passed
(an LRU of `OPERATION_PLAN_CACHE_SIZE`), and a repeated document goes straight to execution.

What depends on the request is never cached: the operation chosen by `operationName` and its
type, variables, the bars cost (checked at execution with the request's variables), and every
permission (resolved per request, per field, with the request's caller). Documents that
introspect (`__schema`, `__type`) are never planned: whether they may run depends on the caller.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import strawberry
from graphql import DocumentNode, GraphQLSchema, OperationDefinitionNode, validate
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext
from strawberry.types.execution import PreExecutionError
from strawberry.types.graphql import OperationType
from strawberry.utils.operation import get_operation_type

from schema.compiling import CompiledOperation, compile_operation

DEFAULT_PLANS = 256
_INTROSPECTION = ("__schema", "__type")  # `__typename` contains `__type`: the rule decides


@dataclass(frozen=True, slots=True)
class OperationPlan:
    """A document that parsed and passed every static check; its operations' types and
    compiled forms by the `operationName` that chose them (filled as requests choose them)."""

    document: DocumentNode
    operation_types: dict[str | None, OperationType] = field(default_factory=dict)
    compiled: dict[str | None, CompiledOperation | None] = field(default_factory=dict)

    def compiled_for(
        self,
        schema: GraphQLSchema,
        text: str,
        operation_name: str | None,
        strawberry_schema: strawberry.Schema | None = None,
    ) -> CompiledOperation | None:
        """The operation `operation_name` chooses, compiled (schema/compiling.py) the first time
        it is asked for; None when it is not simple enough."""
        try:
            return self.compiled[operation_name]
        except KeyError:
            compiled = compile_operation(
                schema, self.document, text, operation_name, strawberry_schema
            )
            self.compiled[operation_name] = compiled
            return compiled


class OperationNameRequired(CannotGetOperationTypeError):
    """A document of several operations sent without `operationName`. The GraphQL spec
    (GetOperation) makes that a request error; Strawberry would run the first of them."""

    def __init__(self) -> None:
        super().__init__(None)

    def as_http_error_reason(self) -> str:
        return "Must provide operation name if query contains multiple operations."


def _one_operation(document: DocumentNode) -> None:
    """OperationNameRequired unless `document` holds one operation (or none: Strawberry's
    own error then)."""
    if sum(isinstance(d, OperationDefinitionNode) for d in document.definitions) > 1:
        raise OperationNameRequired


class OperationPlans:
    """An LRU of plans by document text, bounded at `maxsize` (0: keep none)."""

    def __init__(self, maxsize: int = DEFAULT_PLANS) -> None:
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0 (0 keeps no plans)")
        self.maxsize = maxsize
        self._plans: OrderedDict[str, OperationPlan] = OrderedDict()

    def __len__(self) -> int:
        return len(self._plans)

    def __contains__(self, query: str) -> bool:
        return query in self._plans

    def get(self, query: str) -> OperationPlan | None:
        plan = self._plans.get(query)
        if plan is not None:
            self._plans.move_to_end(query)
        return plan

    def put(self, query: str, plan: OperationPlan) -> None:
        if not self.maxsize:
            return
        self._plans[query] = plan
        self._plans.move_to_end(query)
        while len(self._plans) > self.maxsize:
            self._plans.popitem(last=False)


class PlannedSchema(strawberry.Schema):
    """A Strawberry schema whose repeated documents skip parsing and validation (`plans`)."""

    def __init__(self, *args: Any, plans: OperationPlans | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.plans = plans if plans is not None else OperationPlans()

    async def _prepare_operation_async(
        self, context: ExecutionContext, extensions_runner: SchemaExtensionsRunner
    ) -> PreExecutionError | None:
        query = context.query
        if not query or context.graphql_document is not None:
            return await super()._prepare_operation_async(context, extensions_runner)
        plan = self.plans.get(query)
        if plan is None:
            refused = await super()._prepare_operation_async(context, extensions_runner)
            if refused is None and context.graphql_document is not None:
                # (not `operation_name`: without one given, that names the first operation)
                if context._provided_operation_name is None:
                    _one_operation(context.graphql_document)
                self._plan(query, context.graphql_document)
            return refused
        context.graphql_document = plan.document
        self.operation_type(plan, context.operation_name, context.allowed_operations)
        return None

    @staticmethod
    def operation_type(
        plan: OperationPlan, operation_name: str | None, allowed: Iterable[OperationType]
    ) -> OperationType:
        """The type of the operation `operation_name` chooses from a planned document, with
        Strawberry's errors when it chooses none or one of a type not `allowed`."""
        operation_type = plan.operation_types.get(operation_name)
        if operation_type is None:
            if operation_name is None:
                _one_operation(plan.document)
            try:
                operation_type = get_operation_type(plan.document, operation_name)
            except RuntimeError as error:
                raise CannotGetOperationTypeError(operation_name) from error
            plan.operation_types[operation_name] = operation_type
        if operation_type not in allowed:
            raise InvalidOperationTypeError(operation_type)
        return operation_type

    def _plan(self, query: str, document: DocumentNode) -> None:
        if any(marker in query for marker in _INTROSPECTION) and validate(
            self._schema, document, [NoSchemaIntrospectionCustomRule]
        ):
            return
        self.plans.put(query, OperationPlan(document))
