"""What a field's selection asks for: which Bar columns (so storage reads only those), and
whether any of some fields is selected at all (so a lookup nobody reads is not made)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField

from domain.records import BAR_COLUMNS

_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _snake(name: str) -> str:
    return _CAMEL.sub("_", name).lower()


def _names(selections: Iterable[Any]) -> Iterable[str]:
    for selection in selections:
        if isinstance(selection, SelectedField):
            yield selection.name
        elif isinstance(selection, FragmentSpread | InlineFragment):
            yield from _names(selection.selections)


def bar_columns(info: Any) -> frozenset[str]:
    """Columns behind the Bar fields selected under the current field (a superset is fine)."""
    wanted: set[str] = set()
    for field in info.selected_fields:
        wanted.update(_snake(n) for n in _names(field.selections))
    return frozenset(wanted & set(BAR_COLUMNS))


def selects_any(info: Any, names: frozenset[str]) -> bool:
    """Whether the current field's selection names any of `names` (GraphQL names), directly
    or through fragments; @include/@skip are not looked at (a superset is fine)."""
    return any(n in names for field in info.selected_fields for n in _names(field.selections))
