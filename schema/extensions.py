"""Schema extensions: error codes and masking, the bars cost cap, response notices."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from graphql import (
    ExecutionResult,
    FieldNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    value_from_ast_untyped,
)
from strawberry.extensions import SchemaExtension

from resolvers.errors import BAD_USER_INPUT, INTERNAL

log = logging.getLogger(__name__)
DEFAULT_BARS_LIMIT = 1000
DEFAULT_SYMBOLS_FIRST = 50
DISABLED = "disabled: no POLYGON_API_KEY, answers come from the store"


class ErrorCodes(SchemaExtension):
    """Every error leaves with `extensions.code`; unexpected ones are masked and logged.

    Errors without a path arose before execution (syntax, validation, variable coercion,
    limits): the client's fault, BAD_USER_INPUT. Errors during execution keep the code their
    resolver gave them; anything else is an internal failure whose details stay in the log.
    """

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            result.errors = [self._coded(error) for error in result.errors]

    def _coded(self, error: GraphQLError) -> GraphQLError:
        if error.extensions and "code" in error.extensions:
            return error
        original = error.original_error
        if error.path is None or original is None or _is_coded(original):
            code = _code_of(original) or BAD_USER_INPUT
            return _with_code(error, error.message, code)
        log.error(
            "internal error in resolver",
            exc_info=(type(original), original, original.__traceback__),
            extra={"path": list(error.path)},
        )
        return _with_code(error, "Internal server error", INTERNAL)


def _is_coded(exc: BaseException) -> bool:
    return isinstance(exc, GraphQLError) and "code" in (exc.extensions or {})


def _code_of(exc: BaseException | None) -> str | None:
    if isinstance(exc, GraphQLError) and exc.extensions:
        code = exc.extensions.get("code")
        return str(code) if code else None
    return None


def _with_code(error: GraphQLError, message: str, code: str) -> GraphQLError:
    extensions = {**(error.extensions or {}), "code": code}
    original = error.original_error
    if isinstance(original, GraphQLError) and original.extensions:
        extensions = {**original.extensions, **extensions}
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )


class BarsCostLimit(SchemaExtension):
    """Refuse, before any SQL runs, a query that could return more bars than the cap.

    Cost = the sum over `bars` fields of `limit` * the number of symbols they run for (the length
    of an enclosing `symbols(tickers:)` list, or its `first`), plus one per `latestBar`.
    Fields skipped by @skip/@include are not counted.
    """

    def __init__(self, *, max_bars: int | None = None) -> None:
        self.max_bars = max_bars

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        cap = self.max_bars or _cap_from(context.context)
        document = context.graphql_document
        if cap is not None and document is not None and context.result is None:
            cost = _operation_cost(document, context.operation_name, context.variables or {})
            if cost > cap:
                context.result = ExecutionResult(
                    data=None,
                    errors=[
                        GraphQLError(
                            f"this query could return up to {cost} bars, over the limit of"
                            f" {cap} per response: narrow the range, lower `limit`, or ask"
                            " for fewer symbols",
                            extensions={"code": BAD_USER_INPUT, "cost": cost, "limit": cap},
                        )
                    ],
                )
        yield


def _cap_from(context: Any) -> int | None:
    services = getattr(context, "services", None)
    return getattr(services, "max_bars_per_response", None)


def _operation_cost(document: Any, operation_name: str | None, variables: dict[str, Any]) -> int:
    fragments = {}
    operation = None
    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode):
            if operation_name is None or (
                definition.name and definition.name.value == operation_name
            ):
                operation = operation or definition
        elif hasattr(definition, "selection_set"):
            fragments[definition.name.value] = definition
    if operation is None:
        return 0
    return _selection_cost(operation.selection_set, 1, fragments, variables, set())


def _included(node: Any, variables: dict[str, Any]) -> bool:
    for directive in node.directives or ():
        if directive.name.value in ("skip", "include") and directive.arguments:
            value = bool(value_from_ast_untyped(directive.arguments[0].value, variables))
            if value is (directive.name.value == "skip"):
                return False
    return True


def _argument(field: FieldNode, name: str, variables: dict[str, Any], default: Any) -> Any:
    for argument in field.arguments or ():
        if argument.name.value == name:
            value = value_from_ast_untyped(argument.value, variables)
            return default if value is None else value
    return default


def _selection_cost(
    selection_set: SelectionSetNode | None,
    multiplier: int,
    fragments: dict[str, Any],
    variables: dict[str, Any],
    seen: set[str],
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
                cost += _selection_cost(
                    fragments[name].selection_set, multiplier, fragments, variables, seen | {name}
                )
        elif isinstance(node, InlineFragmentNode):
            cost += _selection_cost(node.selection_set, multiplier, fragments, variables, seen)
        elif isinstance(node, FieldNode):
            cost += _field_cost(node, multiplier, fragments, variables, seen)
    return cost


def _field_cost(
    node: FieldNode,
    multiplier: int,
    fragments: dict[str, Any],
    variables: dict[str, Any],
    seen: set[str],
) -> int:
    name = node.name.value
    if name == "bars":
        limit = _argument(node, "limit", variables, DEFAULT_BARS_LIMIT)
        return multiplier * max(int(limit), 0) if isinstance(limit, int) else 0
    if name == "latestBar":
        return multiplier
    if name == "symbols":
        tickers = _argument(node, "tickers", variables, None)
        count = (
            len(tickers)
            if isinstance(tickers, list)
            else _argument(node, "first", variables, DEFAULT_SYMBOLS_FIRST)
        )
        count = count if isinstance(count, int) else DEFAULT_SYMBOLS_FIRST
        return _selection_cost(node.selection_set, multiplier * count, fragments, variables, seen)
    return _selection_cost(node.selection_set, multiplier, fragments, variables, seen)


class Notices(SchemaExtension):
    """Adds what the resolvers noted (e.g. fetch-on-miss off) to the response extensions."""

    def get_results(self) -> dict[str, Any]:
        context = self.execution_context.context
        notices = dict(getattr(context, "notices", None) or {})
        services = getattr(context, "services", None)
        if services is not None and not services.fetch_on_miss:
            notices.setdefault("fetchOnMiss", DISABLED)  # never a silent empty answer
        return notices
