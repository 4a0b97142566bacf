"""The fast path for bulk bars: build result rows straight from database records.

Stock execution resolves and completes every field of every bar through several Python calls;
for lists of leaf-only objects (Bar) this executor collects the sub-selection once — so
aliases, fragments, `__typename`, @include/@skip and duplicate fields mean exactly what they
mean to graphql-core — checks each selected column in bulk (no nulls where the schema forbids
them, finite floats, 32-bit ints, UTC datetimes), then builds every row with one C-level
`dict(zip(keys, itemgetter(record)))`. DateTime values stay datetimes: the response encoder
(orjson with OPT_UTC_Z) writes them exactly as the DateTime scalar would.

Anything it cannot reproduce exactly (a null in a non-null field, a value the scalar would
reject, @stream, items that are not records) falls back to stock completion, which then
produces the usual errors and null propagation. tests/resolvers/test_fast_path.py checks that
both paths encode to identical JSON for random selections.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from operator import attrgetter, itemgetter
from typing import Any

import asyncpg
from graphql import (
    GraphQLBoolean,
    GraphQLFloat,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
    GraphQLString,
)
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

FAST_TYPES = frozenset({"Bar"})  # object types whose fields all read record columns
_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1

Check = Callable[[list[Any]], bool]  # all (non-null) values of a column acceptable as they are


def _only(values: list[Any], kind: type) -> bool:
    return set(map(type, values)) <= {kind}  # C-level passes, no Python call per value


def _finite_floats(values: list[Any]) -> bool:
    # any NaN or infinity (or an overflow, then judged by stock execution) makes it non-finite
    return _only(values, float) and math.isfinite(math.fsum(values))


def _small_ints(values: list[Any]) -> bool:
    return _only(values, int) and (
        not values or (min(values) >= _INT_MIN and max(values) <= _INT_MAX)
    )


def _of_type(kind: type) -> Check:
    return lambda values: _only(values, kind)


_tzinfo = attrgetter("tzinfo")


def _utc_datetimes(values: list[Any]) -> bool:
    return _only(values, datetime) and set(map(_tzinfo, values)) <= {UTC}


_CHECKS: dict[str, Check] = {
    GraphQLFloat.name: _finite_floats,
    GraphQLInt.name: _small_ints,
    GraphQLString.name: _of_type(str),
    GraphQLBoolean.name: _of_type(bool),
    "DateTime": _utc_datetimes,
}


class _Fallback(Exception):
    """Something the fast path will not judge: let stock execution complete the list."""


class FastExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """Strawberry's executor with a direct path for lists of records of FAST_TYPES."""

    def complete_list_value(
        self,
        return_type: GraphQLList[GraphQLOutputType],
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[list[Any]]:
        item_type = return_type.of_type
        object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if (
            isinstance(object_type, GraphQLObjectType)
            and object_type.name in FAST_TYPES
            and isinstance(result, list)
            and self.get_stream_usage(field_details_list, path) is None
        ):
            try:
                return self._rows(object_type, field_details_list, result)
            except _Fallback:
                pass
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _rows(
        self, object_type: GraphQLObjectType, field_details_list: Any, records: list[Any]
    ) -> list[dict[str, Any]]:
        if not _only(records, asyncpg.Record):
            raise _Fallback
        grouped, _defers, _forbidden = self.collect_subfields(object_type, field_details_list)
        keys: list[str] = []
        columns: list[str] = []
        typename_at: list[int] = []
        for position, (response_key, details) in enumerate(grouped.items()):
            name = details[0].node.name.value
            keys.append(response_key)
            if name == "__typename":
                typename_at.append(position)
                continue
            columns.append(_checked_column(object_type, name, records))
        if not columns:
            return [dict.fromkeys(keys, object_type.name) for _ in records]
        index = {name: i for i, name in enumerate(records[0].keys())} if records else {}
        getter = itemgetter(*(index.get(c, c) for c in columns))  # by position: faster
        if len(columns) == 1:
            values: Any = ((getter(r),) for r in records)
        else:
            values = map(getter, records)
        if typename_at:
            values = (_with_typename(v, typename_at, object_type.name) for v in values)
        return [dict(zip(keys, v, strict=True)) for v in values]


def _checked_column(object_type: GraphQLObjectType, name: str, records: list[Any]) -> str:
    """The record column behind field `name`, after checking every value it holds."""
    field = object_type.fields.get(name)
    definition = field.extensions.get("strawberry-definition") if field else None
    if field is None or definition is None:
        raise _Fallback
    field_type = field.type
    nullable = not isinstance(field_type, GraphQLNonNull)
    leaf = field_type.of_type if isinstance(field_type, GraphQLNonNull) else field_type
    check = _CHECKS.get(leaf.name) if isinstance(leaf, GraphQLScalarType) else None
    if check is None:
        raise _Fallback
    column: str = definition.name
    values = [r[column] for r in records] if records else []
    present = [v for v in values if v is not None] if nullable else values
    if (not nullable and None in values) or not check(present):
        raise _Fallback
    return column


def _with_typename(values: tuple[Any, ...], positions: list[int], name: str) -> tuple[Any, ...]:
    out = list(values)
    for position in positions:
        out.insert(position, name)
    return tuple(out)
