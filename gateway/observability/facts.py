"""What one request did, gathered while it runs and read once it is answered.

TraceMiddleware binds a fresh `RequestFacts` to the request's context; the GraphQL view, the
response cache and the upstream observer fill it in; the access line and the metrics read it.
A ContextVar (not the ASGI scope) so code without the scope, such as the Polygon client's
observer running in a fetch task the request started, can still count its calls.
"""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from domain.errors import HTTP_STATUS, ErrorCode

SERVER_FAULTS = frozenset(
    {ErrorCode.INTERNAL, ErrorCode.UNAVAILABLE, ErrorCode.UPSTREAM_UNAVAILABLE}
)
"""Codes that count as errors of the service (client mistakes do not)."""
_CODE_OF_STATUS = {status: code for code, status in HTTP_STATUS.items()}
_OPERATION_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
ANONYMOUS = "anonymous"
OTHER = "other"


@dataclass(slots=True)
class RequestFacts:
    """Filled in while a request runs; `operation` is a GraphQL operation's name."""

    operation: str | None = None
    graphql: bool = False
    endpoint: str | None = None  # the metrics label, once the request is answered
    cache: str | None = None  # "hit", "shared", "miss"; None when the cache was not asked
    cacheable: bool = False  # a read query answered without errors: HTTP caches may keep it
    upstream_calls: int = 0
    error_codes: list[ErrorCode] = field(default_factory=list)

    def code(self, status: int) -> ErrorCode | None:
        """The request's error code: the first GraphQL error's, else the status's."""
        if self.error_codes:
            faults = [c for c in self.error_codes if c in SERVER_FAULTS]
            return (faults or self.error_codes)[0]
        if status >= 400:
            return _CODE_OF_STATUS.get(status, ErrorCode.INTERNAL if status >= 500 else None)
        return None


current_facts: ContextVar[RequestFacts | None] = ContextVar("marketgraph_facts", default=None)


def facts() -> RequestFacts | None:
    """The running request's facts (None outside a request)."""
    return current_facts.get()


def is_fault(code: ErrorCode | None, status: int) -> bool:
    return status >= 500 or code in SERVER_FAULTS


class OperationNames:
    """Bounded GraphQL operation labels: the first `limit` well-formed names seen are kept,
    later or malformed ones fold into `other`, so clients cannot grow the label set."""

    def __init__(self, limit: int = 100) -> None:
        self._limit = limit
        self._known: set[str] = set()

    def label(self, name: str | None) -> str:
        if not name:
            return ANONYMOUS
        if name in self._known:
            return name
        if len(self._known) < self._limit and _OPERATION_NAME.fullmatch(name):
            self._known.add(name)
            return name
        return OTHER


def endpoint_of(
    scope: MutableMapping[str, Any], facts: RequestFacts | None, names: OperationNames
) -> str:
    """`METHOD path` with the route's template (`/api/v1/historical/{symbol}`), or
    `METHOD /graphql:<operation>`; paths no route matched fold into `METHOD unmatched`."""
    method = scope.get("method", "")
    method = method if method in _METHODS else "OTHER"
    if facts is not None and facts.graphql:
        return f"{method} /graphql:{names.label(facts.operation)}"
    route = scope.get("route")
    path = getattr(route, "path", None)
    return f"{method} {path}" if isinstance(path, str) else f"{method} unmatched"
