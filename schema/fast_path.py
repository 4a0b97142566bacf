"""The fast path for bulk bars: result rows built straight from database records.

Stock execution resolves and completes every field of every bar through several Python calls
(about 40x the cost of dumping the same rows). For a list of records whose selected fields are
all plain scalar columns (a field with no resolver of its own, read by `read_field`), this
executor instead:

1. collects the sub-selection once with graphql-core's own `collect_subfields`, so aliases,
   fragments, `__typename`, @include/@skip with variables and duplicate fields mean exactly
   what they mean to stock execution;
2. coerces each selected column as a whole (schema/columns.py), which also proves no value
   needs an error (no null in a non-null field, no NaN, no out-of-range Int);
3. builds every row with one generated dict display per row.

Lists of scalars (BarSeries columns) are coerced the same way, one check per list, and so is
a single record, dataclass or named tuple of plain columns (a symbol's latest bar, its
aggregate: 50 symbols cost 9.3 -> 8.4 ms CPU in-process).

Anything it cannot reproduce exactly — a value a codec will not judge, items that are not
records, resolvers, middleware (extensions with `resolve`), @stream, other directives — falls
back to stock completion, which then gives the usual errors and null propagation.
tests/resolvers/test_fast_path.py checks both paths agree on random selections.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import fields, is_dataclass
from functools import lru_cache, partial
from itertools import repeat
from typing import Any

import asyncpg
from graphql import (
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLScalarType,
)
from graphql.pyutils import AwaitableOrValue, Path

from schema.columns import CODECS, ONE_VALUE, UNJUDGED, Codec
from schema.records import read_field
from schema.shared_events import SharedEventsExecutionContext

RowBuilder = Callable[[Iterable[tuple[Any, ...]]], list[dict[str, Any]]]
ROW_BUILDERS_PER_SCHEMA = 256
"""Row builders (one per distinct set of response names) a schema keeps compiled."""
_PLAIN_DIRECTIVES = frozenset({"include", "skip"})  # already applied by collect_subfields


class FastExecutionContext(SharedEventsExecutionContext):
    """Strawberry's executor with a direct path for lists of records of leaf-only fields.

    A new instance runs each request, so compiled row builders live on the class: use
    `fast_execution_context()` to get a subclass with a bounded cache of its own for each
    schema. This base class compiles a builder for every list it completes.
    """

    @staticmethod
    def row_builders(keys: tuple[str, ...]) -> RowBuilder:
        return row_builder(keys)

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
        leaf = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if isinstance(leaf, GraphQLScalarType):
            values = self._direct_scalars(item_type, leaf, field_details_list, path, result)
        else:
            values = self._direct_rows(item_type, field_details_list, path, result)
        if values is not None:
            return values
        return super().complete_list_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: Any,
        info: GraphQLResolveInfo[Any],
        path: Path,
        result: Any,
        position_context: Any,
    ) -> AwaitableOrValue[dict[str, Any]]:
        values = self._direct_object(return_type, field_details_list, result)
        if values is not None:
            return values
        return super().complete_object_value(
            return_type, field_details_list, info, path, result, position_context
        )

    def _direct_object(
        self, object_type: GraphQLObjectType, field_details_list: Any, result: Any
    ) -> dict[str, Any] | None:
        """One record (or dataclass) of plain columns completed as one row of `_direct_rows`
        (a symbol's latest bar, its aggregate), or None for stock completion."""
        if object_type.is_type_of is not None or (
            self.middleware_manager is not None and self.middleware_manager.middlewares
        ):
            return None
        plan = self._object_plan(object_type, field_details_list)
        return None if plan is None else object_row(plan, object_type.name, result)

    def _object_plan(
        self, object_type: GraphQLObjectType, field_details_list: Any
    ) -> ObjectPlan | None:
        """Each response key of the sub-selection with its plain column (None: `__typename`),
        or None for stock completion; worked out once per sub-selection and request, as
        graphql-core memoizes `collect_subfields` (50 symbols' bars: 50 lookups, one plan)."""
        key = (object_type, id(field_details_list))
        plans = self.__dict__.setdefault("_object_plans", {})
        try:
            return plans[key][1]  # type: ignore[no-any-return]
        except KeyError:
            pass
        plan: ObjectPlan | None = None
        selection = self._plain_selection(object_type, field_details_list)
        if selection is not None:
            columns = plain_columns(object_type, selection.values())
            if columns is not None:
                plan = tuple(zip(selection, columns, strict=True))
        plans[key] = (field_details_list, plan)  # the list kept alive: its id is not reused
        return plan

    def _plain_selection(
        self, object_type: GraphQLObjectType, field_details_list: Any
    ) -> dict[str, str] | None:
        """Response key -> field name of a sub-selection that only @include/@skip (already
        applied by collect_subfields) can shape, or None for stock completion."""
        try:
            grouped, defer_usages, _ = self.collect_subfields(object_type, field_details_list)
        except GraphQLError:  # e.g. @include(if: $v) with $v null: stock locates it at an item
            return None
        if defer_usages or any(
            directive.name.value not in _PLAIN_DIRECTIVES
            for details in grouped.values()
            for detail in details
            for directive in detail.node.directives or ()
        ):
            return None
        return {key: details[0].node.name.value for key, details in grouped.items()}

    def _direct_scalars(
        self,
        item_type: GraphQLOutputType,
        leaf: GraphQLScalarType,
        field_details_list: Any,
        path: Path,
        result: Any,
    ) -> list[Any] | None:
        """A list of scalars coerced as one column (BarSeries), or None for stock completion."""
        codec = CODECS.get(leaf.coerce_output_value)
        if (
            codec is None
            or type(result) not in (list, tuple)
            or self.get_stream_usage(field_details_list, path) is not None
        ):
            return None
        coerced = codec(result, not isinstance(item_type, GraphQLNonNull))
        return None if coerced is None else list(coerced)

    def _direct_rows(
        self, item_type: GraphQLOutputType, field_details_list: Any, path: Path, result: Any
    ) -> list[dict[str, Any]] | None:
        """The completed list, or None to let stock execution complete it."""
        object_type = item_type.of_type if isinstance(item_type, GraphQLNonNull) else item_type
        if (
            not isinstance(object_type, GraphQLObjectType)
            or object_type.is_type_of is not None
            or type(result) is not list
            or (self.middleware_manager is not None and self.middleware_manager.middlewares)
            or self.get_stream_usage(field_details_list, path) is not None
        ):
            return None
        if not result:
            return []
        if not set(map(type, result)) <= {asyncpg.Record}:
            return None
        plan = self._object_plan(object_type, field_details_list)
        if plan is None:
            return None
        if not plan:  # every field skipped: stock execution gives an empty object per item
            return [{} for _ in result]
        keys, columns = zip(*plan, strict=True)
        values = column_values(result, columns, object_type.name)
        if values is None:
            return None
        return self.row_builders(keys)(zip(*values, strict=True))


def fast_execution_context(
    max_row_builders: int = ROW_BUILDERS_PER_SCHEMA,
) -> type[FastExecutionContext]:
    """A FastExecutionContext class for one schema: its row builders are compiled once per set
    of response names and kept in an LRU cache of `max_row_builders`, so clients sending ever
    new aliases cannot grow it without bound."""
    cached = lru_cache(maxsize=max_row_builders)(row_builder)

    class SchemaExecutionContext(FastExecutionContext):
        row_builders = staticmethod(cached)

    return SchemaExecutionContext


Column = tuple[str, Codec, bool]
"""A plain scalar column field: (record column, codec, nullable)."""
ObjectPlan = tuple[tuple[str, Column | None], ...]
"""A sub-selection of plain columns: (response key, column or None for `__typename`)."""


def column_spec(object_type: GraphQLObjectType, name: str) -> Column | None:
    """How field `name` of `object_type` reads a record column, or None when it is not a
    plain scalar column (a resolver of its own, a type without a whole-column codec)."""
    field = object_type.fields.get(name)
    definition = field.extensions.get("strawberry-definition") if field else None
    if field is None or definition is None or not definition.is_basic_field:
        return None
    if definition.default_resolver is not read_field:
        return None
    field_type = field.type
    nullable = not isinstance(field_type, GraphQLNonNull)
    leaf = field_type if nullable else field_type.of_type
    codec = CODECS.get(leaf.coerce_output_value) if isinstance(leaf, GraphQLScalarType) else None
    if codec is None:
        return None
    column: str = definition.python_name
    return column, codec, nullable


def plain_columns(
    object_type: GraphQLObjectType, names: Iterable[str]
) -> list[Column | None] | None:
    """Each of the fields `names` of `object_type` as a plain column (None for `__typename`),
    or None when one of them is not a plain column."""
    columns: list[Column | None] = []
    for name in names:
        if name == "__typename":
            columns.append(None)
            continue
        column = column_spec(object_type, name)
        if column is None:
            return None
        columns.append(column)
    return columns


def column_values(
    items: list[Any], columns: Sequence[Column | None], type_name: str
) -> list[Iterable[Any]] | None:
    """The values of each of `columns` across `items` (at least one), each coerced whole,
    `__typename` (None) as `type_name`; or None when a column is missing or holds a value only
    stock completion may judge. Items are records of one statement (so sharing their columns)
    or objects of one dataclass or named tuple type (a list of symbols, their aggregates),
    read as `read_field` reads them."""
    if len(items) == 1:
        return _one_item_values(items[0], columns, type_name)
    names: Collection[str]
    read: Callable[[str], Sequence[Any]]
    if set(map(type, items)) <= {asyncpg.Record}:
        keys = list(items[0].keys())
        by_column = list(zip(*items, strict=True))
        names, read = keys, lambda name: by_column[keys.index(name)]
    else:
        kind: type = type(items[0])
        names = _object_fields(kind)
        if not names or any(type(item) is not kind for item in items):
            return None
        read = partial(_column_of, items)
    values: list[Iterable[Any]] = []
    for column in columns:
        if column is None:
            values.append(repeat(type_name, len(items)))
            continue
        name, codec, nullable = column
        if name not in names:
            return None
        coerced = codec(read(name), nullable)
        if coerced is None:
            return None
        values.append(coerced)
    return values


def _one_item_values(
    item: Any, columns: Sequence[Column | None], type_name: str
) -> list[Iterable[Any]] | None:
    """`column_values` of a single item, each value judged by its codec's one-value form."""
    kind: type = type(item)
    names: Collection[str]
    read: Callable[[str], Any]
    if kind is asyncpg.Record:
        names, read = item, item.__getitem__  # `in` a record looks at its keys
    else:
        names, read = _object_fields(kind), partial(getattr, item)
        if not names:
            return None
    values: list[Iterable[Any]] = []
    for column in columns:
        if column is None:
            values.append((type_name,))
            continue
        name, codec, nullable = column
        if name not in names:
            return None
        value = ONE_VALUE[codec](read(name), nullable)  # every codec of CODECS has one
        if value is UNJUDGED:
            return None
        values.append((value,))
    return values


def object_row(plan: ObjectPlan, type_name: str, result: Any) -> dict[str, Any] | None:
    """One record (or dataclass) of plain columns completed as one row of `_direct_rows`
    (a symbol's latest bar, its aggregate), or None for stock completion."""
    values = column_values([result], [column for _, column in plan], type_name)
    if values is None:
        return None
    if not plan:  # every field skipped: an empty object, as stock execution gives
        return {}
    (row,) = zip(*values, strict=True)
    return dict(zip((key for key, _ in plan), row, strict=True))


def _column_of(items: Sequence[Any], name: str) -> list[Any]:
    """Attribute `name` of each item."""
    return [getattr(item, name) for item in items]


@lru_cache(maxsize=64)
def _object_fields(kind: type) -> frozenset[str]:
    """The fields of a dataclass or named tuple type (none of another type): the plain
    attributes, not properties, `read_field` reads."""
    if is_dataclass(kind):
        return frozenset(f.name for f in fields(kind))
    if issubclass(kind, tuple) and hasattr(kind, "_fields"):
        return frozenset(kind._fields)
    return frozenset()


def row_builder(keys: tuple[str, ...]) -> RowBuilder:
    """A function turning value tuples into dicts with `keys`, one dict display per row.

    About twice as fast as `dict(zip(keys, values))`. Keys are GraphQL response names
    (`[_A-Za-z][_0-9A-Za-z]*` by the grammar) and go into the source as `repr` literals.
    """
    names = [f"v{i}" for i in range(len(keys))]
    display = ", ".join(f"{key!r}: {name}" for key, name in zip(keys, names, strict=True))
    source = f"lambda rows: [{{{display}}} for {', '.join(names)}, in rows]"
    builder: RowBuilder = eval(source, {"__builtins__": {}})
    return builder
