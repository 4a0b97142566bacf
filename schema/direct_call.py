"""A compiled root field's resolver called with its arguments converted once, not per request.

Strawberry converts a field's arguments to Python values on every call (`convert_arguments`:
16 µs for `bars`' six, about a twentieth of a 1-bar request), then runs the field's extensions
as a chain of wrappers around the resolver. For a compiled operation (schema/compiling.py),
literal arguments are the same for every request: they are converted once, with Strawberry's
own `convert_arguments`; arguments given by variables are converted once per distinct set
(kept for the MEMO_SIZE sets used last). Each request then does what the chain does,
directly: the field's permission checks, then its resolver.

Only fields whose chain is known to do exactly that are called this way: an async resolver
(no root or parent parameter), no extension but Strawberry's PermissionExtension, whose
permissions are the schema's scope checks (schema/permissions.py: they raise or pass), no
schema exception handlers, and arguments of scalar and enum types whose values cannot be
changed in place (a list is copied for each call, as Strawberry copies it). Every other field
goes through Strawberry.
"""

from __future__ import annotations

import datetime
import decimal
import enum
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

import strawberry
from graphql import GraphQLField, get_named_type, is_leaf_type
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import PermissionExtension
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from schema.permissions import ScopeCheck

MEMO_SIZE = 256  # argument sets whose conversion a field keeps (variables)
_UNCHANGEABLE = (
    str, int, float, bool, type(None), enum.Enum, datetime.datetime, datetime.date, decimal.Decimal
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DirectCall:
    """What a request does to resolve the field: build Strawberry's `Info`, check the
    permissions, call the resolver with the converted arguments (lists copied for each call).

    `literal`: the arguments converted once (None when variables give them); otherwise the
    conversions of the `MEMO_SIZE` argument sets used last are kept in `memo`."""

    field: StrawberryField
    info_class: type[strawberry.Info[Any, Any]]
    permissions: tuple[ScopeCheck, ...]
    literal: Mapping[str, Any] | None
    convert: Callable[[dict[str, Any]], dict[str, Any]]
    memo: dict[Hashable, Mapping[str, Any]]
    pass_source: bool
    info_name: str | None

    async def __call__(self, source: Any, info: Any, coerced: dict[str, Any]) -> Any:
        """Resolve the field; `coerced`: its arguments as graphql-core coerced them."""
        arguments = self.literal if self.literal is not None else self._converted(coerced)
        kwargs = {name: list(v) if type(v) is list else v for name, v in arguments.items()}
        strawberry_info = self.info_class(_raw_info=info, _field=self.field)
        for permission in self.permissions:
            permission.has_permission(source, strawberry_info, **kwargs)
        if self.info_name is not None:
            kwargs[self.info_name] = strawberry_info
        args = [source] if self.pass_source else []
        return await self.field.get_result(source, strawberry_info, args, kwargs)

    def _converted(self, coerced: dict[str, Any]) -> Mapping[str, Any]:
        """Strawberry's conversion of `coerced`, kept per distinct argument set: dashboards
        send the same variables again and again."""
        key = _key(coerced)
        found = self.memo.pop(key, None)
        if found is not None:
            self.memo[key] = found  # the most recently used last
        else:
            found = self.convert(coerced)
            if not unchangeable(found):
                return found  # this request's own values: not shared with the next
            if len(self.memo) >= MEMO_SIZE:
                del self.memo[next(iter(self.memo))]  # the least recently used
            self.memo[key] = found
        return found


def direct_call(
    schema: strawberry.Schema, definition: GraphQLField, arguments: dict[str, Any] | None
) -> DirectCall | None:
    """The direct call of a field (`arguments`: coerced once, GraphQL names, when they are
    all literals), or None when the field must go through Strawberry (see above)."""
    field = definition.extensions.get("strawberry-definition")
    if (
        schema.exception_handlers
        or not isinstance(field, StrawberryField)
        or field.base_resolver is None
        or not field.is_async
        or field.base_resolver.root_parameter is not None
        or field.base_resolver.parent_parameter is not None
        or not all(is_leaf_type(get_named_type(a.type)) for a in definition.args.values())
    ):
        return None
    permissions = _scope_checks(field.extensions)
    if permissions is None:
        return None
    convert = partial(
        convert_arguments,
        arguments=field.arguments,
        scalar_registry=schema.schema_converter.scalar_registry,
        config=schema.config,
    )
    literal = None
    if arguments is not None:
        try:
            literal = convert(arguments)
        except Exception:  # Strawberry reports it per request, as it always does
            return None
        if not unchangeable(literal):
            return None
    info = field.base_resolver.info_parameter
    return DirectCall(
        field,
        schema.config.info_class,
        permissions,
        literal,
        convert,
        {},
        field.base_resolver.self_parameter is not None,
        None if info is None else info.name,
    )


def unchangeable(arguments: Mapping[str, Any]) -> bool:
    """Whether every value (every item of a list) is of a type no resolver can change."""
    return all(
        all(isinstance(x, _UNCHANGEABLE) for x in value)
        if type(value) is list
        else isinstance(value, _UNCHANGEABLE)
        for value in arguments.values()
    )


def _key(coerced: dict[str, Any]) -> Hashable:
    """An argument set as a dict key; each value with its type, so that 1, 1.0 and True,
    which Python holds equal, stay apart."""
    return tuple(
        (name, list, tuple((type(x), x) for x in value))
        if type(value) is list
        else (name, type(value), value)
        for name, value in coerced.items()
    )


def _scope_checks(extensions: list[FieldExtension]) -> tuple[ScopeCheck, ...] | None:
    """The permissions of fields extended only by PermissionExtensions of scope checks, or
    None for any other extension (or permission) the direct call would skip."""
    checks: list[ScopeCheck] = []
    for extension in extensions:
        if (
            type(extension) is not PermissionExtension
            or extension.fail_silently
            or type(extension).map_arguments is not FieldExtension.map_arguments
            or not all(_passes_or_raises(p) for p in extension.permissions)
        ):
            return None
        checks.extend(extension.permissions)  # type: ignore[arg-type]
    return tuple(checks)


def _passes_or_raises(permission: object) -> bool:
    return (
        isinstance(permission, ScopeCheck)
        and type(permission).has_permission is ScopeCheck.has_permission
    )
