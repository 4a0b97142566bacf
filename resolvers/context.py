"""What every resolver can reach: long-lived services and the per-request context.

`Services` is built once by the app's lifespan; `Context` (principal, DataLoaders) is made fresh
for every request so batching and caching never leak between callers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from starlette.requests import Request
from starlette.responses import Response

from resolvers.loaders import Loaders
from storage.api_keys import Principal
from storage.features import RollupBackend
from storage.read_through import ReadThrough


@dataclass(frozen=True, slots=True)
class Services:
    """Long-lived collaborators of the resolvers (one set per app)."""

    pool: asyncpg.Pool
    backend: RollupBackend
    read_through: ReadThrough | None
    max_bars_per_response: int
    anonymous_reads: bool
    forget_key: Callable[[int], None] = lambda key_id: None  # drop a key from auth caches

    @property
    def fetch_on_miss(self) -> bool:
        return self.read_through is not None and self.read_through.enabled


@dataclass
class Context:
    """One request's view: who asks, and the loaders that batch what they ask for."""

    request: Request | None
    response: Response | None
    services: Services
    principal: Principal | None
    notices: dict[str, Any] = field(default_factory=dict)  # merged into response extensions
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders.for_context(self)


def make_context(
    services: Services,
    principal: Principal | None,
    request: Request | None = None,
    response: Response | None = None,
) -> Context:
    """A fresh context (and fresh loaders) for one operation."""
    return Context(request, response, services, principal)


async def get_context(request: Request, response: Response) -> Context:
    """Strawberry's context getter: services from the app, principal from the auth middleware."""
    principal = getattr(request.state, "principal", None)
    return make_context(request.app.state.services, principal, request, response)
