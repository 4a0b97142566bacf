"""Storage rows as GraphQL sources: fields without resolvers read record columns by name."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, cast

import asyncpg

if TYPE_CHECKING:
    from schema.types import Bar


def read_field(obj: Any, name: str) -> Any:
    """Default resolver: storage rows (asyncpg Records) by key, other objects by attribute.

    The fast path (schema/fast_path.py) reads the same columns in bulk, and only for fields
    whose resolver is this one, so both paths see the same values.
    """
    if isinstance(obj, asyncpg.Record):
        return obj[name]
    return getattr(obj, name)


def as_bars(records: Sequence[asyncpg.Record]) -> list[Bar]:
    """Records stand in for `Bar` objects: `read_field` reads their columns by name (and the
    fast path reads them in bulk), so no object is built per bar."""
    return cast("list[Bar]", records)
