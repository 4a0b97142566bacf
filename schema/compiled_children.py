"""A compiled operation's child fields: a symbol's `latestBar` and `aggregate` for all symbols.

Child fields are resolved for all items at once (schema/compiled.py runs the rest): their
arguments coerced once, not once per item, then one call of the field's batch resolver
(schema/batched.py) or else its resolver called item by item as stock execution calls it;
either way each loader reads all items in one statement. The objects of all items are then
coerced column by column, as root rows are; an object the codecs refuse, and every error, is
completed and located the stock way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any

from graphql import GraphQLError, located_error
from graphql.execution.values import VariableValues, get_argument_values
from graphql.pyutils import Path

from schema.compiling import ChildField, RootField
from schema.fast_path import column_values

if TYPE_CHECKING:
    from schema.compiled import CompiledRun


async def resolve_children(
    run: CompiledRun,
    parents: list[tuple[RootField, list[Any], list[Iterable[Any]]]],
    variables: VariableValues,
    errors: list[GraphQLError],
    data: dict[str, Any],
) -> None:
    """The child fields of every item of `parents` resolved together — by their batch
    resolver (schema/batched.py), else item by item as stock execution calls them, so each
    loader still gets one batch — then completed, and each root field's rows built."""
    slots: list[list[Any]] = []  # per child of each field: per item, its outcome
    pending: list[tuple[list[Any], int | None]] = []  # where an awaited outcome goes
    awaitables: list[Awaitable[Any]] = []
    for field, items, _ in parents:
        calls: list[tuple[ChildField, dict[str, Any], list[Any]]] = []
        for child in field.children:
            arguments = _child_arguments(child, variables)
            outcomes: list[Any] = [arguments] * len(items)  # an error: each item's
            slots.append(outcomes)
            if isinstance(arguments, Exception):
                continue
            if child.batch is None:
                calls.append((child, arguments, outcomes))
                continue
            pending.append((outcomes, None))
            awaitables.append(child.batch(items, run.context, arguments))
        for index, item in enumerate(items):
            for child, arguments, outcomes in calls:
                path = _child_path(field, index, child)
                try:
                    info = run.info(
                        child.nodes, child.definition, child.parent_type, path, variables
                    )
                    result = child.resolve(item, info, **arguments)
                except Exception as error:
                    result = error
                outcomes[index] = result
                if run.is_awaitable(result):
                    pending.append((outcomes, index))
                    awaitables.append(result)
    if awaitables:
        results = await asyncio.gather(*awaitables, return_exceptions=True)
        for (outcomes, at), result in zip(pending, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, Exception):
                raise result  # cancellation and exits are not field errors
            if at is not None:
                outcomes[at] = result
            elif isinstance(result, Exception):  # the batch failed: each item's error
                outcomes[:] = [result] * len(outcomes)
            elif len(result) == len(outcomes):
                outcomes[:] = result
            else:
                raise RuntimeError(
                    f"a batch resolver gave {len(result)} outcomes for {len(outcomes)} sources"
                )
    slot = iter(slots)
    for field, _, values in parents:
        objects = [
            await _child_objects(run, field, child, next(slot), errors) for child in field.children
        ]
        plain, nested = iter(values), iter(objects)
        ordered = [
            next(nested) if isinstance(key, ChildField) else next(plain) for key in field.keys
        ]
        data[field.response_name] = field.build_rows(zip(*ordered, strict=True))


async def _child_objects(
    run: CompiledRun,
    field: RootField,
    child: ChildField,
    outcomes: list[Any],
    errors: list[GraphQLError],
) -> list[Any]:
    """Each item's object of a child field: all coerced column by column when they are
    records or objects of one dataclass (one codec call per column, not per object),
    else each completed on its own."""
    present = [
        (index, outcome)
        for index, outcome in enumerate(outcomes)
        if outcome is not None and not isinstance(outcome, Exception)
    ]
    rows = _rows(child, [outcome for _, outcome in present]) if present else None
    if rows is None:
        return [
            await _child_value(run, field, index, child, outcome, errors)
            for index, outcome in enumerate(outcomes)
        ]
    objects: list[Any] = [None] * len(outcomes)
    for (index, _), row in zip(present, rows, strict=True):
        objects[index] = row
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, Exception):
            await _child_value(run, field, index, child, outcome, errors)
    return objects


async def _child_value(
    run: CompiledRun,
    field: RootField,
    index: int,
    child: ChildField,
    value: Any,
    errors: list[GraphQLError],
) -> Any:
    """Item `index`'s object of a child field, completed (directly when its columns
    allow), or null with its error located as graphql-core locates it."""
    if value is None:
        return None
    if not isinstance(value, Exception):  # raised, or returned: stock raises both
        rows = _rows(child, [value])
        if rows is not None:
            return rows[0]
    path = _child_path(field, index, child)
    if isinstance(value, Exception):
        errors.append(located_error(value, child.nodes, path.as_list()))
        return None
    return await run.complete(
        child.definition, child.nodes, child.details, child.parent_type, path, value
    )


def _child_path(field: RootField, index: int, child: ChildField) -> Path:
    return Path(Path(field.path, index, None), child.response_name, child.parent_type.name)


def _child_arguments(child: ChildField, variables: VariableValues) -> dict[str, Any] | Exception:
    """A child field's arguments, coerced once for all items (an error: each item's)."""
    if child.static_arguments is not None:
        return child.static_arguments
    try:
        return get_argument_values(child.definition, child.nodes[0], variables)
    except Exception as error:
        return error


def _rows(child: ChildField, objects: list[Any]) -> list[dict[str, Any]] | None:
    """The completed rows of a child field's objects (at least one), coerced column by
    column, or None when the codecs leave one of them to stock completion."""
    values = column_values(objects, child.columns, child.type_name)
    return None if values is None else child.build_rows(zip(*values, strict=True))
