"""A compiled root field's resolver called with its arguments converted once, not per request.

Strawberry converts a field's arguments to Python values on every call (`convert_arguments`:
16 µs for `bars`' six, about a twentieth of a 1-bar request), then runs the field's extensions
as a chain of wrappers around the resolver. For a compiled operation (schema/compiling.py)
whose field has literal arguments only, the converted values are the same for every request:
they are converted once, with Strawberry's own `convert_arguments`, and each request then does
what the chain does, directly: the field's permission checks, then its resolver.

Only fields whose chain is known to do exactly that are called this way: an async resolver
(no root or parent parameter), no extension but Strawberry's PermissionExtension, whose
permissions are the schema's scope checks (schema/permissions.py: they raise or pass), no
schema exception handlers, and argument values that cannot be changed in place (a list is
copied for each call, as Strawberry copies it). Every other field goes through Strawberry.
"""

from __future__ import annotations

import datetime
import decimal
import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import strawberry
from graphql import GraphQLField
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import PermissionExtension
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

from schema.permissions import ScopeCheck

_UNCHANGEABLE = (
    str, int, float, bool, type(None), enum.Enum, datetime.datetime, datetime.date, decimal.Decimal
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class DirectCall:
    """What a request does to resolve the field: build Strawberry's `Info`, check the
    permissions, call the resolver with the converted arguments (`copied`: lists)."""

    field: StrawberryField
    info_class: type[strawberry.Info[Any, Any]]
    permissions: tuple[ScopeCheck, ...]
    arguments: Mapping[str, Any]
    copied: frozenset[str]
    pass_source: bool
    info_name: str | None

    async def __call__(self, source: Any, info: Any) -> Any:
        strawberry_info = self.info_class(_raw_info=info, _field=self.field)
        kwargs = dict(self.arguments)
        for name in self.copied:
            kwargs[name] = list(kwargs[name])
        for permission in self.permissions:
            permission.has_permission(source, strawberry_info, **kwargs)
        if self.info_name is not None:
            kwargs[self.info_name] = strawberry_info
        args = [source] if self.pass_source else []
        return await self.field.get_result(source, strawberry_info, args, kwargs)


def direct_call(
    schema: strawberry.Schema, definition: GraphQLField, arguments: dict[str, Any] | None
) -> DirectCall | None:
    """The direct call of a field whose arguments graphql-core coerced once (`arguments`,
    GraphQL names), or None when the field must go through Strawberry (see above)."""
    field = definition.extensions.get("strawberry-definition")
    if (
        arguments is None
        or schema.exception_handlers
        or not isinstance(field, StrawberryField)
        or field.base_resolver is None
        or not field.is_async
        or field.base_resolver.root_parameter is not None
        or field.base_resolver.parent_parameter is not None
    ):
        return None
    permissions = _scope_checks(field.extensions)
    if permissions is None:
        return None
    try:
        converted = convert_arguments(
            arguments,
            field.arguments,
            scalar_registry=schema.schema_converter.scalar_registry,
            config=schema.config,
        )
    except Exception:  # Strawberry reports it per request, as it always does
        return None
    copied = frozenset(name for name, value in converted.items() if type(value) is list)
    values = [
        v for value in converted.values() for v in (value if type(value) is list else [value])
    ]
    if not all(isinstance(value, _UNCHANGEABLE) for value in values):
        return None
    info = field.base_resolver.info_parameter
    return DirectCall(
        field,
        schema.config.info_class,
        permissions,
        converted,
        copied,
        field.base_resolver.self_parameter is not None,
        None if info is None else info.name,
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
