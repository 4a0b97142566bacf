"""Storage rows as GraphQL sources: fields without resolvers read record columns by name."""

from __future__ import annotations

from typing import Any

import asyncpg


def read_field(obj: Any, name: str) -> Any:
    """Default resolver: storage rows (asyncpg Records) by key, other objects by attribute.

    The fast path (schema/fast_path.py) reads the same columns in bulk, and only for fields
    whose resolver is this one, so both paths see the same values.
    """
    if isinstance(obj, asyncpg.Record):
        return obj[name]
    return getattr(obj, name)
