"""The cap on work per response, checked from the document and variables before any SQL runs.

Cost = bars a query could return plus the rows its summaries scan, in units of one bar:
- `bars`/`barSeries`: `limit` (its default when not given) per symbol the field runs for;
- `latestBar`: one per symbol;
- `aggregates`/`Symbol.aggregate`: per ticker, the rows of the level that answers the window
  (the coarsest rollup tiling it), one unit per `SCAN_UNIT` rows;
- `symbols` multiplies what is below it by its `tickers` count, or else its `first`.

Argument values are what execution will use: variables coerced by graphql-core (defaults
applied; `100000.0` for an `Int` is 100000, `2.5` is refused), then each argument coerced as
execution does. Fields dropped by @skip/@include count nothing; inline fragments and fragments
spread inside fragments count like fields written in place; in a document of several
operations only the one named by `operationName` counts.

The walk over the document is done once per (document, operation) and kept as a `CostPlan`:
per request only the arguments and directives of the fields that cost anything are read.
"""

from __future__ import annotations

import enum
import math
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from graphql import (
    DocumentNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLField,
    GraphQLIncludeDirective,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    SelectionSetNode,
    VariableDefinitionNode,
    get_argument_values,
    get_directive_values,
    get_named_type,
    get_operation_ast,
)
from graphql.execution.values import VariableValues, get_variable_values
from strawberry.extensions import SchemaExtension

from domain.errors import ErrorCode
from domain.time_range import EARLIEST, END
from domain.timeframes import Timeframe, nominal_width, tiling_timeframe
from resolvers.context import RequestContext

DEFAULT_BARS_LIMIT = 1000
DEFAULT_SYMBOLS_FIRST = 50
SCAN_UNIT = 10
"""Rows a window summary scans per unit of cost (reading a row is cheaper than sending a bar)."""


class Kind(enum.Enum):
    BARS = "bars"
    LATEST = "latest"
    SYMBOLS = "symbols"
    AGGREGATES = "aggregates"
    AGGREGATE = "aggregate"


KINDS = {
    ("Query", "bars"): Kind.BARS,
    ("Query", "barSeries"): Kind.BARS,
    ("Symbol", "bars"): Kind.BARS,
    ("Symbol", "latestBar"): Kind.LATEST,
    ("Query", "symbols"): Kind.SYMBOLS,
    ("Query", "aggregates"): Kind.AGGREGATES,
    ("Symbol", "aggregate"): Kind.AGGREGATE,
}
Guarded = FieldNode | InlineFragmentNode | FragmentSpreadNode
Guards = tuple[Guarded, ...]


@dataclass(frozen=True, slots=True)
class Site:
    """A field that costs something, the @skip/@include nodes between it and the enclosing
    site (all must let it run), and for `symbols` the plan below it."""

    kind: Kind
    field: GraphQLField
    node: FieldNode
    guards: Guards
    below: Plan = ()


@dataclass(frozen=True, slots=True)
class Spread:
    """A fragment spread (or one nested in a fragment): its fragment's plan is kept once."""

    name: str
    guards: Guards


Plan = tuple[Site | Spread, ...]


@dataclass(frozen=True, slots=True)
class CostPlan:
    """What a request's cost needs from one operation of one document."""

    root: Plan = ()
    fragments: Mapping[str, Plan] = field(default_factory=dict)
    variables: tuple[VariableDefinitionNode, ...] = ()
    constant: int | None = None  # the cost, when the operation takes no variables


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    coerced_variables: VariableValues,
) -> int:
    """The cost of the named (or only) operation of `document` with these variables."""
    return plan_cost(cost_plan(schema, document, operation_name), coerced_variables)


def plan_cost(plan: CostPlan, variables: VariableValues) -> int:
    return _Evaluation(plan.fragments, variables).cost(plan.root)


class _Evaluation:
    """One request's cost. Cost is linear in the symbols a field runs for, so a fragment's
    cost is computed once however often it is spread (each spread counts it again)."""

    def __init__(self, fragments: Mapping[str, Plan], variables: VariableValues) -> None:
        self._fragments = fragments
        self._variables = variables
        self._known: dict[str, int] = {}

    def cost(self, plan: Plan) -> int:
        total = 0
        for item in plan:
            if all(_included(node, self._variables) for node in item.guards):
                total += self._spread(item.name) if isinstance(item, Spread) else self._site(item)
        return total

    def _spread(self, name: str) -> int:
        if name not in self._known:
            self._known[name] = self.cost(self._fragments.get(name, ()))
        return self._known[name]

    def _site(self, site: Site) -> int:
        try:
            args = get_argument_values(site.field, site.node, self._variables)
        except GraphQLError:
            return 0  # execution refuses the same arguments: this field never runs
        if site.kind is Kind.BARS:
            return max(int(args["limit"]), 0)
        if site.kind is Kind.LATEST:
            return 1
        if site.kind is Kind.AGGREGATE:
            return window_cost(args["from"], args["to"], args["basis"])
        if site.kind is Kind.AGGREGATES:
            return len(args["tickers"]) * window_cost(args["from"], args["to"], args["basis"])
        tickers = args.get("tickers")
        count = len(tickers) if tickers is not None else max(int(args["first"]), 0)
        return count * self.cost(site.below)


def window_cost(start: datetime, end: datetime, basis: Timeframe) -> int:
    """Cost units of one summary over [start, end): rows of the level that answers it."""
    if not EARLIEST <= start < end <= END:
        return 0  # refused, with its own message, by validation before any SQL
    width = nominal_width(tiling_timeframe(basis, start, end))
    return math.ceil(math.ceil((end - start) / width) / SCAN_UNIT)


def _included(node: Guarded, variables: VariableValues) -> bool:
    skip = get_directive_values(GraphQLSkipDirective, node, variables)
    if skip is not None and skip["if"]:
        return False
    include = get_directive_values(GraphQLIncludeDirective, node, variables)
    return include is None or bool(include["if"])


def cost_plan(
    schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
) -> CostPlan:
    """The plan of the operation `execute` would run (empty when it picks none)."""
    operation = get_operation_ast(document, operation_name)
    root = schema.get_root_type(operation.operation) if operation else None
    if operation is None or root is None:
        return CostPlan()
    definitions = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    planner = _Planner(schema, definitions)
    plan = planner.plan(operation.selection_set, root, ())
    return CostPlan(plan, planner.fragments, tuple(operation.variable_definitions or ()))


class _Planner:
    """Walks an operation once; each fragment it reaches is planned once."""

    def __init__(
        self, schema: GraphQLSchema, definitions: dict[str, FragmentDefinitionNode]
    ) -> None:
        self._schema = schema
        self._definitions = definitions
        self.fragments: dict[str, Plan] = {}

    def plan(self, selections: SelectionSetNode | None, parent: Any, guards: Guards) -> Plan:
        if not isinstance(parent, GraphQLObjectType) or selections is None:
            return ()
        found: list[Site | Spread] = []
        for node in selections.selections:
            if not isinstance(node, Guarded):
                continue
            inner = (*guards, node) if node.directives else guards
            if isinstance(node, FieldNode):
                found.extend(self._field(node, parent, inner))
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                typed = self._schema.get_type(condition.name.value) if condition else parent
                found.extend(self.plan(node.selection_set, typed, inner))
            else:
                self._fragment(node.name.value)
                found.append(Spread(node.name.value, inner))
        return tuple(found)

    def _fragment(self, name: str) -> None:
        definition = self._definitions.get(name)
        if name in self.fragments or definition is None:
            return
        self.fragments[name] = ()  # while planning it: a cycle (refused anyway) costs nothing
        typed = self._schema.get_type(definition.type_condition.name.value)
        self.fragments[name] = self.plan(definition.selection_set, typed, ())

    def _field(self, node: FieldNode, parent: GraphQLObjectType, guards: Guards) -> Plan:
        found = parent.fields.get(node.name.value)
        if found is None:
            return ()
        kind = KINDS.get((parent.name, node.name.value))
        child = get_named_type(found.type)
        if kind is Kind.SYMBOLS:
            return (Site(kind, found, node, guards, self.plan(node.selection_set, child, ())),)
        if kind is not None:
            return (Site(kind, found, node, guards),)
        return self.plan(node.selection_set, child, guards)


Key = tuple[int, str | None]


@dataclass
class CostPlans:
    """Plans of recently seen (document, operation) pairs, least recently used dropped first.

    Keyed by the document's identity (the parse cache hands out one object per text); each
    entry holds its document, so no other document can take its id while it is kept. One
    instance serves one schema.
    """

    maxsize: int = 256

    def __post_init__(self) -> None:
        self._plans: OrderedDict[Key, tuple[DocumentNode, CostPlan]] = OrderedDict()

    def plan(
        self, schema: GraphQLSchema, document: DocumentNode, operation_name: str | None
    ) -> CostPlan:
        key = (id(document), operation_name)
        kept = self._plans.get(key)
        if kept is not None and kept[0] is document:
            self._plans.move_to_end(key)
            return kept[1]
        plan = cost_plan(schema, document, operation_name)
        if not plan.variables:  # the same cost for every request: computed once
            none = get_variable_values(schema, (), {})
            if not isinstance(none, list):
                plan = replace(plan, constant=plan_cost(plan, none))
        self._plans[key] = (document, plan)
        if len(self._plans) > self.maxsize:
            self._plans.popitem(last=False)
        return plan


class BarsCostLimit(SchemaExtension):
    """Refuse an operation whose cost is over `services.max_bars_per_response`."""

    def __init__(self, *, plans: CostPlans) -> None:
        super().__init__()
        self._plans = plans

    def on_execute(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        if document is not None and context.result is None:
            context.result = refusal(
                self._plans,
                context.schema._schema,
                document,
                context.operation_name,
                context.variables,
                context.context,
            )
        yield


def refusal(
    plans: CostPlans,
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    variables: dict[str, Any] | None,
    request: object,
) -> ExecutionResult | None:
    """The result refusing an operation whose cost is over the request's
    `services.max_bars_per_response`, or None to let it run."""
    if not isinstance(request, RequestContext):  # never run uncapped by mistake
        raise TypeError("BarsCostLimit needs a RequestContext (resolvers.context)")
    cap = request.services.max_bars_per_response
    cost = _cost(plans, schema, document, operation_name, variables or {})
    if cost <= cap:
        return None
    message = (
        f"this query could return up to {cost} bars (a summary counts one per"
        f" {SCAN_UNIT} rows it reads), over the limit of {cap} per response:"
        " narrow the range, lower `limit`, or ask for fewer symbols"
    )
    extensions = {"code": ErrorCode.BAD_USER_INPUT.value, "cost": cost, "limit": cap}
    return ExecutionResult(data=None, errors=[GraphQLError(message, extensions=extensions)])


def _cost(
    plans: CostPlans,
    schema: GraphQLSchema,
    document: DocumentNode,
    name: str | None,
    raw: dict[str, Any],
) -> int:
    plan = plans.plan(schema, document, name)
    if not plan.root:
        return 0
    if plan.constant is not None:
        return plan.constant
    variables = get_variable_values(schema, plan.variables, raw)
    if isinstance(variables, list):
        return 0  # execution refuses these variables before any field runs
    return plan_cost(plan, variables)
