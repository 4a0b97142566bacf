"""Every GraphQL error leaves with `extensions.code`; unexpected failures are masked and logged.

Who is at fault decides the code:
- errors before execution (syntax, validation, variable coercion, limits) and argument values
  graphql-core refuses while executing (their nodes are values, not fields): BAD_USER_INPUT;
- errors the service layer raised (`ServiceError`) carry their code and details;
- anything else — a bug, a lost connection, a stored value a scalar refuses — is INTERNAL:
  "Internal server error" for the client, the traceback in the log with the trace id, and the
  trace id in the error (`extensions.traceId`) so a report can be matched to the log line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

from graphql import FieldNode, GraphQLError
from strawberry.extensions import SchemaExtension

from domain.errors import ErrorCode, ServiceError

log = logging.getLogger(__name__)
MASKED = "Internal server error"
_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")  # graphql-core's did_you_mean()


class ErrorCodes(SchemaExtension):
    """Give each error of the result its code (see the module docstring).

    With `suggestions` off, "Did you mean ...?" is cut from every message: it names schema
    fields, arguments and enum values to whoever guesses near them.
    """

    def __init__(self, *, suggestions: bool = True) -> None:
        super().__init__()
        self._suggestions = suggestions

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is not None and result.errors:
            context = self.execution_context.context
            result.errors = coded_errors(result.errors, context, suggestions=self._suggestions)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Each message of a subscription (or a streamed query) too."""
        if getattr(result, "errors", None):
            context = self.execution_context.context
            result.errors = [coded(error, context) for error in result.errors]
        yield


def coded_errors(
    errors: list[GraphQLError], context: Any, *, suggestions: bool
) -> list[GraphQLError]:
    """A result's errors, each with its code (and without suggestions unless `suggestions`);
    `context` is the request's (for the trace id of masked errors)."""
    errors = [coded(error, context) for error in errors]
    return errors if suggestions else [_without_suggestions(error) for error in errors]


def coded(error: GraphQLError, context: Any) -> GraphQLError:
    """`error` with its code (see the module docstring)."""
    if "code" in (error.extensions or {}):
        return error
    original = error.original_error
    if isinstance(original, ServiceError) and original.code is not ErrorCode.INTERNAL:
        if original.message != str(original):  # the detail is for the log only
            log.warning(
                "%s: %s",
                type(original).__name__,
                original,
                extra={"trace_id": _trace_id(context)},
            )
        return _with_code(error, original.message, original.code, **original.extensions)
    if error.path is None or _refused_input(error):
        return _with_code(error, error.message, ErrorCode.BAD_USER_INPUT)
    trace_id = _trace_id(context)
    log.error(
        "internal error while executing a GraphQL operation",
        exc_info=(type(original), original, original.__traceback__) if original else None,
        extra={"path": list(error.path or ()), "graphql_error": error.message},
    )
    extra = {"traceId": trace_id} if trace_id else {}
    return _with_code(error, MASKED, ErrorCode.INTERNAL, **extra)


def _without_suggestions(error: GraphQLError) -> GraphQLError:
    message = _SUGGESTION.sub("", error.message)
    return error if message == error.message else _rebuilt(error, message, error.extensions)


def _refused_input(error: GraphQLError) -> bool:
    """graphql-core refused an argument value during execution (nodes point at values)."""
    original = error.original_error
    return (
        isinstance(original, GraphQLError)
        and original.original_error is None
        and bool(error.nodes)
        and not any(isinstance(node, FieldNode) for node in error.nodes or ())
    )


def _trace_id(context: Any) -> str | None:
    trace_id = getattr(context, "trace_id", None)
    return trace_id if isinstance(trace_id, str) else None


def _with_code(error: GraphQLError, message: str, code: ErrorCode, **extra: Any) -> GraphQLError:
    original = error.original_error
    inherited = original.extensions if isinstance(original, GraphQLError) else None
    extensions = {**(inherited or {}), **(error.extensions or {}), "code": code, **extra}
    if code is ErrorCode.INTERNAL:
        extensions = {"code": code, **extra}  # nothing internal leaks through extensions
    return _rebuilt(error, message, extensions)


def _rebuilt(error: GraphQLError, message: str, extensions: Any) -> GraphQLError:
    """`error` with another message and extensions, where it was."""
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        extensions=extensions,
    )
