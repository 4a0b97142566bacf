"""Compiling an operation: what every request of one planned document shares, worked out once.

A 1-bar query spent about 0.24 ms of Python around its 0.08 ms database read, most of it in
machinery that gives the same answer for every request of one document: building an executor,
collecting the root fields and each list's sub-selection, locating the field definitions and
coercing literal arguments. `compile_operation` does all of that once, kept with the
document's plan (schema/plans.py); schema/compiled.py runs the result for each request.

Only documents simple enough are compiled: a query without directives of any kind (none of
@include, @skip, @defer, @stream can then change what is collected), whose root fields all
return lists of one object type and select plain scalar columns of it (and `__typename`) and
child fields that give one nullable object of plain columns: a watchlist's `symbols { ticker
latestBar { .. } aggregate { .. } }`. Anything else is not compiled and runs as before.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import strawberry
from graphql import (
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
)
from graphql.execution.collect_fields import (
    FieldDetailsList,
    FragmentDetails,
    collect_fields,
    collect_subfields,
)
from graphql.execution.values import VariableValues, get_argument_values
from graphql.language import DocumentNode
from graphql.pyutils import Path

from schema.batched import BatchResolver, batch_of
from schema.direct_call import DirectCall, direct_call, unchangeable
from schema.fast_path import (
    Column,
    RowBuilder,
    column_spec,
    plain_columns,
    row_builder,
)
from schema.selection import CompiledFieldNodes

NO_VARIABLES = VariableValues({}, {})


@dataclass(frozen=True, slots=True)
class ChildField:
    """A field of each item of a root field that has a resolver of its own and gives one
    object of plain columns, or null: a symbol's `latestBar`, its `aggregate`."""

    response_name: str
    definition: GraphQLField
    resolve: Callable[..., Any]
    details: FieldDetailsList
    nodes: list[FieldNode]
    parent_type: GraphQLObjectType
    type_name: str
    columns: tuple[Column | None, ...]  # the object's plain columns; None: __typename
    build_rows: RowBuilder
    static_arguments: dict[str, Any] | None  # coerced once when no variable is declared
    batch: BatchResolver | None  # resolves all items in one call (schema/batched.py)


@dataclass(frozen=True, slots=True)
class RootField:
    """One root field of a compiled operation, with everything its requests share."""

    response_name: str
    definition: GraphQLField
    resolve: Callable[..., Any]
    details: FieldDetailsList
    nodes: list[FieldNode]
    path: Path
    columns: tuple[Column | None, ...]  # the plain columns of an item; None: __typename
    children: tuple[ChildField, ...]
    keys: tuple[Column | ChildField | None, ...]  # per response key of a row, in order
    type_name: str
    build_rows: RowBuilder
    static_arguments: dict[str, Any] | None  # coerced once when no variable is declared
    call: DirectCall | None = None  # the resolver called without Strawberry's chain


@dataclass(frozen=True, slots=True)
class CompiledOperation:
    """A query whose root fields are all `RootField`s."""

    operation: OperationDefinitionNode
    root_type: GraphQLObjectType
    fragments: dict[str, FragmentDefinitionNode]
    fields: tuple[RootField, ...]


def compile_operation(
    schema: GraphQLSchema,
    document: DocumentNode,
    text: str,
    operation_name: str | None,
    strawberry_schema: strawberry.Schema | None = None,
) -> CompiledOperation | None:
    """The compiled form of the operation `operation_name` chooses from a valid `document`
    (whose source is `text`), or None when it is not simple enough (see above). With the
    `strawberry_schema`, root fields with literal arguments are called directly
    (schema/direct_call.py)."""
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
    grouped = collect_fields(schema, details, NO_VARIABLES, root_type, operation)
    fields = []
    for response_name, field_details in grouped.grouped_field_set.items():
        field = _root_field(
            schema, details, operation, root_type, response_name, field_details, strawberry_schema
        )
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
    strawberry_schema: strawberry.Schema | None = None,
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
    collected = collect_subfields(schema, fragments, NO_VARIABLES, operation, item_type, details)
    if not collected.grouped_field_set or collected.new_defer_usages:
        return None
    keys: list[Column | ChildField | None] = []
    for key, sub_details in collected.grouped_field_set.items():
        name = sub_details[0].node.name.value
        entry: Column | ChildField | None = None  # __typename
        if name != "__typename":
            entry = column_spec(item_type, name) or _child_field(
                schema, fragments, operation, item_type, key, sub_details
            )
            if entry is None:
                return None
        keys.append(entry)
    static_arguments = _static_arguments(operation, definition, node)
    if static_arguments is False:
        return None
    return RootField(
        response_name,
        definition,
        definition.resolve,
        details,
        _nodes(details),
        Path(None, response_name, root_type.name),
        tuple(entry for entry in keys if not isinstance(entry, ChildField)),
        tuple(entry for entry in keys if isinstance(entry, ChildField)),
        tuple(keys),
        item_type.name,
        row_builder(tuple(collected.grouped_field_set)),
        static_arguments,
        None
        if strawberry_schema is None
        else direct_call(strawberry_schema, definition, static_arguments),
    )


def _child_field(
    schema: GraphQLSchema,
    fragments: dict[str, FragmentDetails],
    operation: OperationDefinitionNode,
    parent_type: GraphQLObjectType,
    response_name: str,
    details: FieldDetailsList,
) -> ChildField | None:
    """A field of `parent_type` with a resolver giving one nullable object whose selection
    is plain columns, or None."""
    node = details[0].node
    definition = parent_type.fields.get(node.name.value)
    object_type = definition.type if definition is not None else None
    if (
        definition is None
        or definition.resolve is None
        or not isinstance(object_type, GraphQLObjectType)  # null, list, non-null or leaf
        or object_type.is_type_of is not None
    ):
        return None
    collected = collect_subfields(schema, fragments, NO_VARIABLES, operation, object_type, details)
    names = [sub_details[0].node.name.value for sub_details in collected.grouped_field_set.values()]
    columns = plain_columns(object_type, names)
    static_arguments = _static_arguments(operation, definition, node)
    if not columns or collected.new_defer_usages or static_arguments is False:
        return None
    return ChildField(
        response_name,
        definition,
        definition.resolve,
        details,
        _nodes(details),
        parent_type,
        object_type.name,
        tuple(columns),
        row_builder(tuple(collected.grouped_field_set)),
        static_arguments,
        batch_of(definition),
    )


def _static_arguments(
    operation: OperationDefinitionNode, definition: GraphQLField, node: FieldNode
) -> dict[str, Any] | Literal[False] | None:
    """A field's arguments coerced once when the operation declares no variable and their
    values cannot be changed in place (None: per request), or False when they cannot be
    coerced (stock execution then reports it)."""
    if operation.variable_definitions:
        return None
    try:
        coerced = get_argument_values(definition, node, NO_VARIABLES)
    except GraphQLError:
        return False
    # shared by every request: only values no resolver can change in place (a custom
    # scalar's dict is coerced afresh for each request, as stock execution does)
    return coerced if unchangeable(coerced) else None


def _nodes(details: FieldDetailsList) -> CompiledFieldNodes:
    return CompiledFieldNodes(detail.node for detail in details)


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
