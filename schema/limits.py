"""Depth, alias and token limits, checked once per distinct document.

Strawberry's limiter extensions build new validation rule classes on every request, so the
validation cache (keyed by the rules) never hits: measured, 56 % of a small request. Here the
depth and alias limits are one graphql-core validation rule, made once per schema by
`limit_rules`, and the token limit is a parse option (see `schema.parsing`), so a repeated
document skips both parse and validation. Each fragment is walked once, however often spread.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
    ValidationRule,
)
from strawberry.extensions import ValidationCache

MAX_DEPTH = 8
MAX_ALIASES = 30
MAX_TOKENS = 5000


@dataclass(frozen=True)
class Shape:
    """How deep a selection set nests (0: leaves only) and how many aliases it executes."""

    depth: int = 0
    aliases: int = 0

    def below(self, other: Shape) -> Shape:
        """Both selections side by side."""
        return Shape(max(self.depth, other.depth), self.aliases + other.aliases)


class _Shapes:
    """Shapes of one document's selection sets; a fragment's shape is computed once (a spread
    counts its fragment's aliases again, as execution runs them again; a cycle counts 0)."""

    def __init__(self, fragments: dict[str, FragmentDefinitionNode]) -> None:
        self._fragments = fragments
        self._known: dict[str, Shape] = {}

    def of(self, selection_set: SelectionSetNode | None) -> Shape:
        shape = Shape()
        for node in selection_set.selections if selection_set else ():
            if isinstance(node, FieldNode):
                shape = shape.below(self._field(node))
            elif isinstance(node, InlineFragmentNode):
                shape = shape.below(self.of(node.selection_set))
            elif isinstance(node, FragmentSpreadNode):
                shape = shape.below(self._fragment(node.name.value))
        return shape

    def _field(self, node: FieldNode) -> Shape:
        alias = 1 if node.alias else 0
        if node.name.value.startswith("__") or node.selection_set is None:
            return Shape(0, alias)  # introspection is not limited by depth (as before)
        inner = self.of(node.selection_set)
        return Shape(inner.depth + 1, inner.aliases + alias)

    def _fragment(self, name: str) -> Shape:
        if name not in self._known:
            definition = self._fragments.get(name)
            self._known[name] = Shape()  # while walking it: a cycle (refused anyway) adds 0
            if definition is not None:
                self._known[name] = self.of(definition.selection_set)
        return self._known[name]


class DocumentLimits(ValidationRule):
    """Refuse a document whose operations nest deeper than `max_depth` or run more than
    `max_aliases` aliased fields in all. Subclassed with the limits by `limit_rules`."""

    max_depth: ClassVar[int] = MAX_DEPTH
    max_aliases: ClassVar[int] = MAX_ALIASES

    def __init__(self, context: ValidationContext) -> None:
        super().__init__(context)
        definitions = context.document.definitions
        fragments = {d.name.value: d for d in definitions if isinstance(d, FragmentDefinitionNode)}
        shapes = _Shapes(fragments)
        aliases = 0
        for operation in definitions:
            if isinstance(operation, OperationDefinitionNode):
                shape = shapes.of(operation.selection_set)
                aliases += shape.aliases
                if shape.depth > self.max_depth:
                    name = operation.name.value if operation.name else "anonymous"
                    message = f"'{name}' exceeds maximum operation depth of {self.max_depth}"
                    context.report_error(GraphQLError(message, operation))
        if aliases > self.max_aliases:
            message = f"{aliases} aliases found. Allowed: {self.max_aliases}"
            context.report_error(GraphQLError(message))


def limit_rules(
    *, max_depth: int = MAX_DEPTH, max_aliases: int = MAX_ALIASES
) -> tuple[type[ASTValidationRule], ...]:
    """The limit rules, to be made once per schema (the validation cache keys on them)."""
    limits = {"max_depth": max_depth, "max_aliases": max_aliases}
    return (type("DocumentLimits", (DocumentLimits,), limits),)


class LimitedValidationCache(ValidationCache):
    """Strawberry's ValidationCache, validating with `rules` (the same objects every request)
    added to the standard rules."""

    def __init__(self, rules: tuple[type[ASTValidationRule], ...], maxsize: int) -> None:
        super().__init__(maxsize=maxsize)
        self._rules = rules

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        context.validation_rules = (*context.validation_rules, *self._rules)
        yield from super().on_validate()
