"""The cap on bars per response, checked from the document and variables before any SQL runs.

Cost = the sum over `bars` and `barSeries` fields of `limit` (its default when not given)
times the number of symbols the field runs for — the length of an enclosing
`symbols(tickers:)` list, or its `first` — plus one per `latestBar`. Fields dropped by
@skip/@include are not counted; variables count with their defaults, as execution will see
them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

from domain.errors import ErrorCode
from resolvers.context import RequestContext

DEFAULT_BARS_LIMIT = 1000
DEFAULT_SYMBOLS_FIRST = 50
Fragments = dict[str, FragmentDefinitionNode]


class BarsCostLimit(SchemaExtension):
    """Refuse a query that could return more bars than `services.max_bars_per_response`."""

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        if not isinstance(context.context, RequestContext):  # never run uncapped by mistake
            raise TypeError("BarsCostLimit needs a RequestContext (resolvers.context)")
        cap = context.context.services.max_bars_per_response
        document = context.graphql_document
        if document is not None and context.result is None:
            cost = operation_cost(document, context.operation_name, context.variables or {})
            if cost > cap:
                message = (
                    f"this query could return up to {cost} bars, over the limit of {cap} per"
                    " response: narrow the range, lower `limit`, or ask for fewer symbols"
                )
                extensions = {"code": ErrorCode.BAD_USER_INPUT.value, "cost": cost, "limit": cap}
                context.result = ExecutionResult(
                    data=None, errors=[GraphQLError(message, extensions=extensions)]
                )
        yield


def operation_cost(
    document: DocumentNode, operation_name: str | None, variables: dict[str, Any]
) -> int:
    """The most bars the named (or only) operation of `document` could return."""
    fragments: Fragments = {}
    operation = None
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            named = definition.name.value if definition.name else None
            if operation is None and operation_name in (None, named):
                operation = definition
        elif isinstance(definition, FragmentDefinitionNode):
            fragments[definition.name.value] = definition
    if operation is None:
        return 0
    merged = _with_defaults(operation, variables)
    return _selection_cost(operation.selection_set, 1, fragments, merged, frozenset())


def _with_defaults(operation: OperationDefinitionNode, variables: dict[str, Any]) -> dict[str, Any]:
    merged = dict(variables)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in merged and definition.default_value is not None:
            merged[name] = value_from_ast_untyped(definition.default_value)
    return merged


def _included(node: Any, variables: dict[str, Any]) -> bool:
    for directive in node.directives or ():
        if directive.name.value in ("skip", "include") and directive.arguments:
            value = value_from_ast_untyped(directive.arguments[0].value, variables)
            if (value is True) is (directive.name.value == "skip"):
                return False
    return True


def _int_argument(field: FieldNode, name: str, variables: dict[str, Any], default: int) -> int:
    for argument in field.arguments or ():
        if argument.name.value == name:
            value = value_from_ast_untyped(argument.value, variables)
            return value if isinstance(value, int) and not isinstance(value, bool) else default
    return default


def _selection_cost(
    selection_set: SelectionSetNode | None,
    multiplier: int,
    fragments: Fragments,
    variables: dict[str, Any],
    seen: frozenset[str],
) -> int:
    if selection_set is None:
        return 0
    cost = 0
    for node in selection_set.selections:
        if not _included(node, variables):
            continue
        if isinstance(node, FragmentSpreadNode):
            name = node.name.value
            if name in fragments and name not in seen:
                spread = fragments[name].selection_set
                cost += _selection_cost(spread, multiplier, fragments, variables, seen | {name})
        elif isinstance(node, InlineFragmentNode):
            cost += _selection_cost(node.selection_set, multiplier, fragments, variables, seen)
        elif isinstance(node, FieldNode):
            cost += _field_cost(node, multiplier, fragments, variables, seen)
    return cost


def _field_cost(
    node: FieldNode,
    multiplier: int,
    fragments: Fragments,
    variables: dict[str, Any],
    seen: frozenset[str],
) -> int:
    name = node.name.value
    if name in ("bars", "barSeries"):
        return multiplier * max(_int_argument(node, "limit", variables, DEFAULT_BARS_LIMIT), 0)
    if name == "latestBar":
        return multiplier
    if name == "symbols":
        count = _int_argument(node, "first", variables, DEFAULT_SYMBOLS_FIRST)
        for argument in node.arguments or ():
            if argument.name.value == "tickers":
                tickers = value_from_ast_untyped(argument.value, variables)
                if isinstance(tickers, list):
                    count = len(tickers)
        multiplier *= count
    return _selection_cost(node.selection_set, multiplier, fragments, variables, seen)
