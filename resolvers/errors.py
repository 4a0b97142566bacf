"""GraphQL errors with the codes clients branch on (`extensions.code`)."""

from __future__ import annotations

from typing import Any

from graphql import GraphQLError

from storage.errors import StorageError, UpstreamRateLimited

BAD_USER_INPUT = "BAD_USER_INPUT"
UNAUTHENTICATED = "UNAUTHENTICATED"
FORBIDDEN = "FORBIDDEN"
NOT_FOUND = "NOT_FOUND"
RATE_LIMITED = "RATE_LIMITED"
UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
INTERNAL = "INTERNAL"


def coded(message: str, code: str, **extra: Any) -> GraphQLError:
    """An error the client may see as it is, with its code."""
    return GraphQLError(message, extensions={"code": code, **extra})


def from_storage(exc: StorageError) -> GraphQLError:
    """Translate a storage-layer error into the GraphQL error a client sees."""
    extra: dict[str, Any] = {}
    if isinstance(exc, UpstreamRateLimited) and exc.retry_after is not None:
        extra["retryAfter"] = exc.retry_after
    return coded(str(exc), exc.code, **extra)
