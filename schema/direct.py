"""The direct path: a planned query executed by graphql-core without Strawberry's extension runner.

For a document already planned (schema/plans.py) there is nothing left to parse or validate,
yet Strawberry's `Schema.execute` still builds an execution context, fresh instances of every
extension and a context manager per hook for each request (a fifth of a small request). Here
the same steps run as plain calls, in the order the extensions run them:

1. the operation chosen by `operationName` and its type (`PlannedSchema.operation_type`: the
   same errors for an unknown name or a refused type);
2. the operation name recorded in the request context (audit trail, access line);
3. the bars cost with the request's variables (`schema.cost.refusal`);
4. graphql-core's `execute` with the schema's execution context class, so field permissions,
   resolvers and the fast path are exactly those of stock execution;
5. error codes and masking (`schema.errors.coded_errors`), then the response notices.

Only queries with a `RequestContext` take it; anything else — a document seen first, one with
an error before execution, mutations, subscriptions, other contexts — runs the stock way.
tests/resolvers/test_operation_plans.py compares both on generated documents.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from graphql import DocumentNode, GraphQLError, execute
from graphql import ExecutionResult as CoreResult
from strawberry.execution.is_awaitable import optimized_is_awaitable
from strawberry.schema.schema import DEFAULT_ALLOWED_OPERATION_TYPES
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType
from strawberry.utils.operation import get_first_operation

from resolvers.context import RequestContext
from schema.compiled import CompiledRun, resolve_helpers
from schema.compiling import CompiledOperation
from schema.cost import CostPlans, refusal
from schema.errors import coded_errors
from schema.notices import notices
from schema.plans import OperationPlan, PlannedSchema


@dataclass(frozen=True, slots=True)
class DirectPath:
    """What the direct path needs of the schema's extensions: the cost plans BarsCostLimit
    uses, and whether ErrorCodes keeps "Did you mean" suggestions; whether simple documents
    are compiled (schema/compiled.py builds rows as the fast path does: not for a schema
    built for stock execution)."""

    cost_plans: CostPlans
    suggestions: bool
    compiled: bool = True


class DirectSchema(PlannedSchema):
    """A planned schema whose repeated queries take the direct path (`direct`; None: never)."""

    def __init__(self, *args: Any, direct: DirectPath | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.direct = direct
        self._helpers = resolve_helpers()

    async def execute(
        self,
        query: str | None,
        variable_values: dict[str, Any] | None = None,
        context_value: Any | None = None,
        root_value: Any | None = None,
        operation_name: str | None = None,
        allowed_operation_types: Iterable[OperationType] | None = None,
        operation_extensions: dict[str, Any] | None = None,
    ) -> ExecutionResult:
        direct = self.direct
        plan = self.plans.get(query) if direct is not None and query else None
        if (
            direct is not None
            and plan is not None
            and query
            and isinstance(context_value, RequestContext)
        ):
            allowed = (
                DEFAULT_ALLOWED_OPERATION_TYPES
                if allowed_operation_types is None
                else allowed_operation_types
            )
            if self.operation_type(plan, operation_name, allowed) is OperationType.QUERY:
                return await self._direct(
                    direct, plan, query, variable_values, context_value, root_value,
                    operation_name, operation_extensions,
                )  # fmt: skip
        return await super().execute(
            query,
            variable_values,
            context_value,
            root_value,
            operation_name,
            allowed_operation_types,
            operation_extensions,
        )

    async def _direct(
        self,
        direct: DirectPath,
        plan: OperationPlan,
        query: str,
        variables: dict[str, Any] | None,
        context: RequestContext,
        root_value: Any,
        operation_name: str | None,
        operation_extensions: dict[str, Any] | None,
    ) -> ExecutionResult:
        document = plan.document
        if operation_name is None:
            first = get_first_operation(document)
            context.operation = first.name.value if first and first.name else None
        else:
            context.operation = operation_name
        try:
            result = refusal(
                direct.cost_plans, self._schema, document, context.operation, variables, context
            )
            if result is None:
                compiled = (
                    plan.compiled_for(self._schema, query, operation_name, self)
                    if direct.compiled
                    else None
                )
                if compiled is not None:
                    result = await self._compiled(
                        compiled, document, variables, context, root_value, operation_extensions
                    )
                else:
                    executed = execute(
                        self._schema,
                        document,
                        root_value=root_value,
                        variable_values=variables,
                        operation_name=context.operation,
                        context_value=context,
                        is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                        executor_class=self.execution_context_class,
                        operation_extensions=operation_extensions,
                    )
                    result = executed if isinstance(executed, CoreResult) else await executed
        except Exception as error:  # as Strawberry: a result, not a crash
            failure = error if isinstance(error, GraphQLError) else None
            result = CoreResult(None, [failure or GraphQLError(str(error), original_error=error)])
        errors = result.errors
        if errors:
            errors = coded_errors(errors, context, suggestions=direct.suggestions)
        return ExecutionResult(data=result.data, errors=errors, extensions=notices(context))

    async def _compiled(
        self,
        compiled: CompiledOperation,
        document: DocumentNode,
        variables: dict[str, Any] | None,
        context: RequestContext,
        root_value: Any,
        operation_extensions: dict[str, Any] | None,
    ) -> CoreResult:
        """A compiled operation run; its executor for values the rows cannot give is the one
        stock execution would build for this request."""

        def executor() -> Any:
            return self.execution_context_class.build(
                self._schema,
                document,
                root_value,
                context,
                variables,
                context.operation,
                is_awaitable=optimized_is_awaitable,  # type: ignore[arg-type]
                operation_extensions=operation_extensions,
            )

        run = CompiledRun(
            compiled,
            self._schema,
            context,
            root_value,
            optimized_is_awaitable,
            operation_extensions,
            executor,
            self._helpers,
        )
        return await run.execute(variables)
