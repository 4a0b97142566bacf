"""What a field's selection asks for: which Bar columns (so storage reads only those), and
whether any of some fields is selected at all (so a lookup nobody reads is not made).

Read from graphql-core's field nodes, not Strawberry's `info.selected_fields`, which converts
every selection's arguments and directives first (3 % of a 1-bar request, for names only).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionNode,
)

from domain.records import BAR_COLUMN_SET

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


@lru_cache(maxsize=1024)  # field names of executed (valid) documents: the schema's own
def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _names(
    selections: Iterable[SelectionNode], fragments: Mapping[str, FragmentDefinitionNode]
) -> Iterable[str]:
    for selection in selections:
        if isinstance(selection, FieldNode):
            yield selection.name.value
        elif isinstance(selection, InlineFragmentNode):
            yield from _names(selection.selection_set.selections, fragments)
        elif isinstance(selection, FragmentSpreadNode):
            fragment = fragments.get(selection.name.value)
            if fragment is not None:
                yield from _names(fragment.selection_set.selections, fragments)


def _selected_names(info: Any) -> Iterable[str]:
    """Names selected under the current field, directly or through fragments."""
    raw = info._raw_info  # graphql-core's GraphQLResolveInfo (Strawberry has no public alias)
    for node in raw.field_nodes:
        if node.selection_set is not None:
            yield from _names(node.selection_set.selections, raw.fragments)


class CompiledFieldNodes(list[FieldNode]):
    """A compiled field's nodes (schema/compiling.py), which all its requests share, with
    what is worked out from their selection kept beside them for as long as the compiled
    operation lives: walking a 1-bar query's selection again cost 24,000 of its 792,000
    instructions (in-process, callgrind)."""

    __slots__ = ("bar_columns",)

    def __init__(self, nodes: Iterable[FieldNode]) -> None:
        super().__init__(nodes)
        self.bar_columns: frozenset[str] | None = None


def bar_columns(info: Any) -> frozenset[str]:
    """Columns behind the Bar fields selected under the current field (a superset is fine:
    @include/@skip are not looked at, so a compiled field's columns hold for every request)."""
    nodes = info._raw_info.field_nodes
    compiled = type(nodes) is CompiledFieldNodes
    if compiled and nodes.bar_columns is not None:
        return nodes.bar_columns  # type: ignore[no-any-return]
    columns = frozenset(_snake(name) for name in _selected_names(info)) & BAR_COLUMN_SET
    if compiled:
        nodes.bar_columns = columns
    return columns


def selects_any(info: Any, names: frozenset[str]) -> bool:
    """Whether the current field's selection names any of `names` (GraphQL names), directly
    or through fragments; @include/@skip are not looked at (a superset is fine)."""
    return any(name in names for name in _selected_names(info))
