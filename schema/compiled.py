"""Compiled operations run: a planned query of lists answered without graphql-core's executor.

For a document compiled once (schema/compiling.py), a request only coerces its variables,
calls each root field's own resolver (Strawberry's, so permissions, argument conversion and the
resolvers themselves are exactly those of stock execution) and builds the rows as the fast path
does (schema/fast_path.py). Child fields are resolved for all items at once
(schema/compiled_children.py: 50 symbols cost 10.0 ms CPU in-process through the executor;
compiled, 7.0 item by item, 5.4 batched, 2.6 coerced by column).

At run time, whatever the rows cannot give exactly — a value a codec will not judge, items
that are neither records nor objects of one dataclass — is completed by a real executor built
for the request, and resolver errors are located and nulled as graphql-core does, so answers
and errors are stock execution's (tests/resolvers/test_compiled_operations.py compares them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLField,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    OperationDefinitionNode,
    located_error,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from graphql.pyutils import Path, gather_with_cancel
from graphql.type.definition import GraphQLResolveInfoHelpers

from resolvers.batch_loader import sole_caller
from schema.compiled_children import resolve_children
from schema.compiling import NO_VARIABLES, CompiledOperation, RootField
from schema.fast_path import (
    column_values,
)

MAX_COERCION_ERRORS = 50  # graphql-core's default for `execute`
IsAwaitable = Callable[[Any], bool]


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
    `helpers` are the schema's `resolve_helpers()`.
    """

    compiled: CompiledOperation
    schema: GraphQLSchema
    context: Any
    root_value: Any
    is_awaitable: IsAwaitable
    operation_extensions: dict[str, Any] | None
    fallback: Callable[[], Any]
    helpers: GraphQLResolveInfoHelpers
    _executor: Any = None

    async def execute(self, raw_variables: dict[str, Any] | None) -> ExecutionResult:
        compiled = self.compiled
        definitions = compiled.operation.variable_definitions
        variables = NO_VARIABLES
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
            result: Any
            try:
                arguments = field.static_arguments
                if arguments is None:
                    arguments = get_argument_values(field.definition, field.nodes[0], variables)
                info = self.info(
                    field.nodes, field.definition, compiled.root_type, field.path, variables
                )
                if field.call is not None:  # arguments converted once (schema/direct_call.py)
                    result = field.call(self.root_value, info, arguments)
                else:
                    result = field.resolve(self.root_value, info, **arguments)
            except Exception as error:
                result = None
                errors.append(_located(error, field))
            if self.is_awaitable(result):
                pending.append((field, result))
            data[field.response_name] = result
        if len(pending) == 1:  # in this task, alone: its loads need not wait for others
            field, awaitable = pending[0]
            alone = sole_caller.set(asyncio.current_task())
            try:
                data[field.response_name] = await awaitable
            except Exception as error:
                data[field.response_name] = None
                errors.append(_located(error, field))
            finally:
                sole_caller.reset(alone)
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
        parents: list[tuple[RootField, list[Any], list[Iterable[Any]]]] = []
        for field in compiled.fields:
            value = data[field.response_name]
            if value is None:
                continue
            values = _parent_values(field, value)
            if values is None:
                data[field.response_name] = await self.complete(
                    field.definition, field.nodes, field.details, compiled.root_type,
                    field.path, value,
                )  # fmt: skip
            elif not field.children:
                data[field.response_name] = field.build_rows(zip(*values, strict=True))
            else:
                parents.append((field, value, values))
        if parents:
            await resolve_children(self, parents, variables, errors, data)
        if self._executor is not None:
            errors.extend(self._executor.collected_errors.errors)
            release = getattr(self._executor, "release", None)  # schema/acyclic.py
            if release is not None:
                release()
        return ExecutionResult(data, errors or None)

    def info(
        self,
        nodes: list[FieldNode],
        definition: GraphQLField,
        parent_type: GraphQLObjectType,
        path: Path,
        variables: VariableValues,
    ) -> ResolveInfo:
        compiled = self.compiled
        return ResolveInfo(
            nodes[0].name.value,
            nodes,
            definition.type,
            parent_type,
            path,
            self.schema,
            compiled.fragments,
            self.root_value,
            compiled.operation,
            variables.coerced,
            self.context,
            self.is_awaitable,
            None,
            self.helpers,
            self.operation_extensions,
        )

    async def complete(
        self,
        definition: GraphQLField,
        nodes: list[FieldNode],
        details: FieldDetailsList,
        parent_type: GraphQLObjectType,
        path: Path,
        value: Any,
    ) -> Any:
        """`value` completed by a real executor (whose errors join the response's)."""
        executor = self._executor
        if executor is None:
            executor = self._executor = self.fallback()
        info = executor.build_resolve_info(definition, nodes, parent_type, path)
        try:
            completed = executor.complete_value(definition.type, details, info, path, value, None)
            if self.is_awaitable(completed):
                completed = await completed
        except Exception as error:
            executor.handle_field_error(error, definition.type, details, path)
            completed = None
        return completed


def _located(error: Exception, field: RootField) -> GraphQLError:
    """A resolver's error located at its field, as graphql-core reports it."""
    return located_error(error, field.nodes, field.path.as_list())


def _parent_values(field: RootField, value: Any) -> list[Iterable[Any]] | None:
    """The coerced plain columns of a list of records or dataclass objects, or None to
    complete it the stock way."""
    if type(value) is not list:
        return None
    if not value:
        return [[] for _ in field.keys]
    return column_values(value, field.columns, field.type_name)


async def _gather(values: Sequence[Awaitable[Any]]) -> list[Any]:
    return await gather_with_cancel(*values)


def resolve_helpers() -> GraphQLResolveInfoHelpers:
    """The `async_helpers` compiled runs give resolvers: `track` settles awaitables a resolver
    leaves behind in the background, as the executor does, holding them in a set of its own
    until they are done (the event loop keeps only weak references to tasks). Made once per
    schema, not per request: helpers bound to a run would make every run cyclic garbage."""
    background: set[asyncio.Future[Any]] = set()

    def track(values: Sequence[Any]) -> None:
        for value in values:
            if asyncio.isfuture(value) or asyncio.iscoroutine(value):
                future = asyncio.ensure_future(value)
                background.add(future)
                future.add_done_callback(background.discard)

    return GraphQLResolveInfoHelpers(gather=_gather, track=track)
