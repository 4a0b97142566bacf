"""Access declared on the fields it guards: `permission_classes=[CanRead]` and friends.

Each class asks the service layer's one access rule (`RequestContext.require`), which raises
UNAUTHENTICATED (no key) or FORBIDDEN (a key without the scope); the ErrorCodes extension
turns either into `extensions.code`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from strawberry.permission import BasePermission

from domain.access import Scope


class ScopeCheck(BasePermission):
    """A field open to callers holding `scope`: passes or raises, never answers False."""

    scope: ClassVar[Scope]
    message = "not permitted"

    def has_permission(self, source: Any, info: Any, **kwargs: Any) -> bool:
        info.context.require(self.scope)  # raises with the precise code
        return True


class CanRead(ScopeCheck):
    """Reading stored data: a key with `read` (or anyone, with ANONYMOUS_READS)."""

    scope = Scope.READ


class IsAdmin(ScopeCheck):
    """Key administration: a key with `admin`."""

    scope = Scope.ADMIN
