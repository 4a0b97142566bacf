"""Compiled operations: a planned query of bar lists answered without graphql-core's executor.

A 1-bar query spent about 0.24 ms of Python around its 0.08 ms database read, most of it in
machinery that gives the same answer for every request of one document: building an executor,
collecting the root fields and each list's sub-selection, locating the field definitions and
coercing literal arguments. For a document that is simple enough, all of that is done once
(`compile_operation`, kept with the document's plan) and a request only coerces its variables,
calls each root field's own resolver (Strawberry's, so permissions, argument conversion and the
resolvers themselves are exactly those of stock execution) and builds the rows as the fast path
does (schema/fast_path.py).

Simple enough means: a query without directives of any kind (none of @include, @skip, @defer,
@stream can then change what is collected), whose root fields all return lists of one object
type and select only plain scalar columns of it (and `__typename`). Anything else is not
compiled and runs as before. At run time, whatever the rows cannot give exactly — a value a
codec will not judge, items that are not records — is completed by a real executor built for
the request, and resolver errors are located and nulled as graphql-core does, so answers and
errors are stock execution's (tests/resolvers/test_compiled_operations.py compares them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import asyncpg
from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    OperationDefinitionNode,
    OperationType,
    located_error,
)
from graphql.execution.collect_fields import (
    FieldDetailsList,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.language import DocumentNode
from graphql.pyutils import Path, gather_with_cancel
from graphql.type.definition import GraphQLResolveInfoHelpers

from schema.fast_path import Column, RowBuilder, coerced_columns, plain_columns, row_builder

MAX_COERCION_ERRORS = 50  # graphql-core's default for `execute`
_NO_VARIABLES = VariableValues({}, {})
IsAwaitable = Callable[[Any], bool]


@dataclass(frozen=True, slots=True)
class RootField:
    """One root field of a compiled operation, with everything its requests share."""

    response_name: str
    definition: GraphQLField
    resolve: Callable[..., Any]
    details: FieldDetailsList
    nodes: list[FieldNode]
    path: Path
    columns: tuple[Column | None, ...]  # per response key of a row; None: __typename
    type_name: str
    build_rows: RowBuilder
    static_arguments: dict[str, Any] | None  # coerced once when no variable is declared


@dataclass(frozen=True, slots=True)
class CompiledOperation:
    """A query whose root fields are all `RootField`s."""

    operation: OperationDefinitionNode
    root_type: GraphQLObjectType
    fragments: dict[str, FragmentDefinitionNode]
    fields: tuple[RootField, ...]


def compile_operation(
    schema: GraphQLSchema, document: DocumentNode, text: str, operation_name: str | None
) -> CompiledOperation | None:
    """The compiled form of the operation `operation_name` chooses from a valid `document`
    (whose source is `text`), or None when it is not simple enough (see above)."""
    if "@" in text:  # a directive somewhere (or an @ in a string: then simply not compiled)
        return None
    operation = None
    fragments: dict[str, FragmentDefinitionNode] = {}
    for definition in document.definitions:
        if isinstance(definition, FragmentDefinitionNode):
            if definition.variable_definitions:
                return None
            fragments[definition.name.value] = definition
        elif isinstance(definition, OperationDefinitionNode) and (
            operation_name is None
            or (definition.name is not None and definition.name.value == operation_name)
        ):
            if operation is not None and operation_name is None:
                return None  # several operations and no name: stock execution refuses it
            operation = definition
    root_type = schema.query_type
    if operation is None or operation.operation is not OperationType.QUERY or root_type is None:
        return None
    details = {name: FragmentDetails(fragment) for name, fragment in fragments.items()}
    grouped = collect_fields(schema, details, _NO_VARIABLES, root_type, operation)
    fields = []
    for response_name, field_details in grouped.grouped_field_set.items():
        field = _root_field(schema, details, operation, root_type, response_name, field_details)
        if field is None:
            return None
        fields.append(field)
    return CompiledOperation(operation, root_type, fragments, tuple(fields)) if fields else None


def _root_field(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDetails],
    operation: OperationDefinitionNode,
    root_type: GraphQLObjectType,
    response_name: str,
    details: FieldDetailsList,
) -> RootField | None:
    node = details[0].node
    definition = root_type.fields.get(node.name.value)
    if definition is None or definition.resolve is None:
        return None  # __typename and introspection among them
    if isinstance(definition.type, GraphQLNonNull):
        return None  # its error would null the whole answer: left to stock execution
    item_type = _list_item_type(definition.type)
    if item_type is None:
        return None
    collected = collect_subfields(schema, fragments, _NO_VARIABLES, operation, item_type, details)
    names = (sub_details[0].node.name.value for sub_details in collected.grouped_field_set.values())
    columns = plain_columns(item_type, names)
    if not columns or collected.new_defer_usages:
        return None
    static_arguments = None
    if not operation.variable_definitions:
        try:
            static_arguments = get_argument_values(definition, node, _NO_VARIABLES)
        except GraphQLError:
            return None
    return RootField(
        response_name,
        definition,
        definition.resolve,
        details,
        [detail.node for detail in details],
        Path(None, response_name, root_type.name),
        tuple(columns),
        item_type.name,
        row_builder(tuple(collected.grouped_field_set)),
        static_arguments,
    )


def _list_item_type(field_type: GraphQLOutputType) -> GraphQLObjectType | None:
    """The object type of a field typed `[T]` or `[T!]`, else None."""
    if not isinstance(field_type, GraphQLList):
        return None
    item = field_type.of_type
    if isinstance(item, GraphQLNonNull):
        item = item.of_type
    if not isinstance(item, GraphQLObjectType) or item.is_type_of is not None:
        return None
    return item


class ResolveInfo(NamedTuple):
    """What a root resolver is given: the fields of the info Strawberry's executor builds
    (`StrawberryGraphQLCoreExecutionContext.build_resolve_info`), whose variables are the
    plain coerced dict and which carries the request's `extensions`."""

    field_name: str
    field_nodes: list[FieldNode]
    return_type: GraphQLOutputType
    parent_type: GraphQLObjectType
    path: Path
    schema: GraphQLSchema
    fragments: dict[str, FragmentDefinitionNode]
    root_value: Any
    operation: OperationDefinitionNode
    variable_values: dict[str, Any]
    context: Any
    is_awaitable: IsAwaitable
    abort_signal: Any
    async_helpers: GraphQLResolveInfoHelpers
    operation_extensions: dict[str, Any] | None


@dataclass
class CompiledRun:
    """One request's run of a compiled operation.

    `fallback` builds a real executor for this request (variables, context, operation) when a
    value must be completed the stock way; it is built at most once and only then.
    """

    compiled: CompiledOperation
    schema: GraphQLSchema
    context: Any
    root_value: Any
    is_awaitable: IsAwaitable
    operation_extensions: dict[str, Any] | None
    fallback: Callable[[], Any]
    _executor: Any = None

    async def execute(self, raw_variables: dict[str, Any] | None) -> ExecutionResult:
        compiled = self.compiled
        definitions = compiled.operation.variable_definitions
        variables = _NO_VARIABLES
        if definitions:
            coerced = get_variable_values(
                self.schema, definitions, raw_variables or {}, max_errors=MAX_COERCION_ERRORS
            )
            if isinstance(coerced, list):
                return ExecutionResult(None, coerced)
            variables = coerced
        errors: list[GraphQLError] = []
        data: dict[str, Any] = {}
        pending: list[tuple[RootField, Awaitable[Any]]] = []
        for field in compiled.fields:
            try:
                arguments = field.static_arguments
                if arguments is None:
                    arguments = get_argument_values(field.definition, field.nodes[0], variables)
                result = field.resolve(self.root_value, self._info(field, variables), **arguments)
            except Exception as error:
                result = None
                errors.append(_located(error, field))
            if self.is_awaitable(result):
                pending.append((field, result))
            data[field.response_name] = result
        if len(pending) == 1:
            field, awaitable = pending[0]
            try:
                data[field.response_name] = await awaitable
            except Exception as error:
                data[field.response_name] = None
                errors.append(_located(error, field))
        elif pending:
            outcomes = await asyncio.gather(*(a for _, a in pending), return_exceptions=True)
            for (field, _), outcome in zip(pending, outcomes, strict=True):
                if not isinstance(outcome, BaseException):
                    data[field.response_name] = outcome
                    continue
                if not isinstance(outcome, Exception):
                    raise outcome  # cancellation and exits are not field errors
                data[field.response_name] = None
                errors.append(_located(outcome, field))
        for field in compiled.fields:
            value = data[field.response_name]
            if value is not None:
                rows = _rows(field, value)
                data[field.response_name] = (
                    rows if rows is not None else await self._complete(field, value)
                )
        if self._executor is not None:
            errors.extend(self._executor.collected_errors.errors)
            release = getattr(self._executor, "release", None)  # schema/acyclic.py
            if release is not None:
                release()
        return ExecutionResult(data, errors or None)

    def _info(self, field: RootField, variables: VariableValues) -> ResolveInfo:
        compiled = self.compiled
        return ResolveInfo(
            field.nodes[0].name.value,
            field.nodes,
            field.definition.type,
            compiled.root_type,
            field.path,
            self.schema,
            compiled.fragments,
            self.root_value,
            compiled.operation,
            variables.coerced,
            self.context,
            self.is_awaitable,
            None,
            _HELPERS,
            self.operation_extensions,
        )

    async def _complete(self, field: RootField, value: Any) -> Any:
        """`value` completed by a real executor (whose errors join the response's)."""
        executor = self._executor
        if executor is None:
            executor = self._executor = self.fallback()
        info = executor.build_resolve_info(
            field.definition, field.nodes, self.compiled.root_type, field.path
        )
        try:
            completed = executor.complete_value(
                field.definition.type, field.details, info, field.path, value, None
            )
            if self.is_awaitable(completed):
                completed = await completed
        except Exception as error:
            executor.handle_field_error(error, field.definition.type, field.details, field.path)
            completed = None
        return completed


def _located(error: Exception, field: RootField) -> GraphQLError:
    """A resolver's error located at its field, as graphql-core reports it."""
    return located_error(error, field.nodes, field.path.as_list())


def _rows(field: RootField, value: Any) -> list[dict[str, Any]] | None:
    """The completed rows of a list of records, or None to complete it the stock way."""
    if type(value) is not list:
        return None
    if not value:
        return []
    if not set(map(type, value)) <= {asyncpg.Record}:
        return None
    values = coerced_columns(value, field.columns, field.type_name)
    return None if values is None else field.build_rows(zip(*values, strict=True))


_tracked: set[asyncio.Future[Any]] = set()


async def _gather(values: Sequence[Awaitable[Any]]) -> list[Any]:
    return await gather_with_cancel(*values)


def _track(values: Sequence[Any]) -> None:
    """Awaitables a resolver leaves behind, settled in the background as the executor does."""
    for value in values:
        if asyncio.isfuture(value) or asyncio.iscoroutine(value):
            future = asyncio.ensure_future(value)
            _tracked.add(future)
            future.add_done_callback(_tracked.discard)


_HELPERS = GraphQLResolveInfoHelpers(gather=_gather, track=_track)
