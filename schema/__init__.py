"""The GraphQL schema: `build_schema()` assembles types, limits and extensions."""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry.extensions.disable_introspection import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.types import ExecutionContext

from domain.introspection import Introspection
from resolvers.context import RequestContext
from schema.admin import KeyMutation
from schema.cost import BarsCostLimit, CostPlans
from schema.direct import DirectPath, DirectSchema
from schema.errors import ErrorCodes
from schema.fast_path import fast_execution_context
from schema.introspection import KeyedIntrospection
from schema.limits import MAX_ALIASES, MAX_DEPTH, MAX_TOKENS, LimitedValidationCache, limit_rules
from schema.names import RememberingNameConverter
from schema.notices import Notices
from schema.parsing import CodedParserCache
from schema.plans import DEFAULT_PLANS, OperationPlans
from schema.query import Query
from schema.records import read_field
from schema.scalars import DATETIME
from schema.shared_events import SharedEventsExecutionContext
from schema.subscription import Subscription
from schema.tracked import TrackedMutation

__all__ = ["MAX_ALIASES", "MAX_DEPTH", "MAX_TOKENS", "build_schema"]
CACHE_SIZE = 256  # distinct documents whose parse, validation and cost plan are kept


@strawberry.type
class Mutation(KeyMutation, TrackedMutation):
    """Administration: API keys and tracked symbols (admin scope)."""


class MarketSchema(DirectSchema):
    """Strawberry's Schema without its log line per error: client errors are not incidents,
    and internal ones are logged (with trace id) by the ErrorCodes extension."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        return None

    async def _execute_operation(
        self, execution_context: ExecutionContext, *args: Any, **kwargs: Any
    ) -> Any:
        """Record the operation about to run (its name, None when anonymous) in the request
        context, for the audit trail and the access log: here rather than in an extension's
        `on_execute`, whose context manager every request paid for."""
        context = execution_context.context
        if isinstance(context, RequestContext):
            context.operation = execution_context.operation_name
        return await super()._execute_operation(execution_context, *args, **kwargs)


def build_schema(
    *,
    introspection: Introspection = Introspection.PUBLIC,
    fast_path: bool = True,
    plans: int = DEFAULT_PLANS,
) -> strawberry.Schema:
    """The marketgraph schema; `fast_path=False` gives stock execution (for comparisons), and
    `plans` how many documents keep their operation plan (schema/plans.py; 0: none).

    Unless introspection is public, error messages carry no "Did you mean ...?" suggestions.
    """
    public = introspection is Introspection.PUBLIC
    cost_plans = CostPlans(maxsize=CACHE_SIZE)
    extensions: list[Any] = [
        partial(ErrorCodes, suggestions=public),
        partial(CodedParserCache, maxsize=CACHE_SIZE, max_tokens=MAX_TOKENS),
        partial(LimitedValidationCache, limit_rules(), maxsize=CACHE_SIZE),
        *([KeyedIntrospection] if introspection is Introspection.AUTHENTICATED else []),
        partial(BarsCostLimit, plans=cost_plans),
        Notices,
    ]
    if introspection is Introspection.OFF:
        extensions.append(DisableIntrospection)
    kwargs: dict[str, Any] = {
        "execution_context_class": (
            fast_execution_context() if fast_path else SharedEventsExecutionContext
        )
    }
    return MarketSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=extensions,
        config=StrawberryConfig(
            default_resolver=read_field,
            scalar_map={datetime: DATETIME},
            name_converter=RememberingNameConverter(),
        ),
        plans=OperationPlans(plans),
        direct=DirectPath(cost_plans, suggestions=public, compiled=fast_path),
        **kwargs,
    )
