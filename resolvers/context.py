"""What every service function receives: long-lived services and one request's context.

`Services` is built once by the app's lifespan; `RequestContext` (principal, fetch gate,
batch loaders) is made fresh for every request by `make_context`, so batching and caching
never leak between callers. Nothing here knows about HTTP or GraphQL.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from datetime import timedelta

import asyncpg

from domain.access import Principal, Scope
from domain.errors import Forbidden, Unauthenticated
from resolvers.fetch_gate import FetchGate
from resolvers.live_hub import LiveHub, LiveSubscription
from resolvers.loaders import Loaders
from resolvers.read_route import ReadRoute
from resolvers.read_through import ReadThrough
from storage.features import RollupBackend
from storage.newest_bars import NewestBarTimes
from storage.replicas import ReplicaSet

KEY_REQUIRED = "an API key is required (X-API-Key or Authorization: Bearer)"


def _forget_nothing(key_id: int) -> None:
    return None


@dataclass(frozen=True, slots=True)
class Services:
    """Long-lived collaborators of the service layer (one set per app)."""

    pool: asyncpg.Pool
    backend: RollupBackend
    read_through: ReadThrough | None
    max_bars_per_response: int
    anonymous_reads: bool
    forget_key: Callable[[int], None] = _forget_nothing  # drop a key from auth caches
    live: LiveHub | None = None  # live bar updates (None: subscriptions are off)
    replicas: ReplicaSet | None = None  # DATABASE_READ_URLS (None: every read on `pool`)
    on_replica_fallback: Callable[[], None] | None = None  # a read left a failed replica
    newest_bar_times: NewestBarTimes = field(default_factory=NewestBarTimes)  # horizons learnt
    bar_chunks: timedelta | None = None  # `bars` is a hypertable cut at this (bar_chunks.py)

    @property
    def fetch_on_miss(self) -> bool:
        return self.read_through is not None and self.read_through.enabled


@dataclass(slots=True)
class RequestContext:
    """One request's view: who asks, whether they may fetch, the loaders that batch reads.

    `operation` names what the request did (a GraphQL operation name); the audit trail and
    the access log record it. `disconnect(reason)` ends a long-lived connection (a websocket
    whose subscriber fell behind); requests that end on their own leave it a no-op. `live` is
    the subscription a `bars` subscription registered, for the websocket handler's direct
    delivery of shared updates (gateway/graphql_ws.py).
    """

    services: Services
    principal: Principal | None
    fetch: FetchGate
    loaders: Loaders
    reads: ReadRoute
    trace_id: str | None = None
    operation: str | None = field(default=None)
    disconnect: Callable[[str], None] = field(default=lambda reason: None)
    live: LiveSubscription | None = None  # the live subscription this operation registered
    share_key: Hashable = None  # what its live results are shared under (shared_events.py)

    def may(self, scope: Scope) -> bool:
        """Whether the caller holds `scope` (anonymous callers may read when allowed)."""
        if self.principal is None:
            return scope is Scope.READ and self.services.anonymous_reads
        return self.principal.has(scope)

    def require(self, scope: Scope) -> None:
        """The access rule: raise Unauthenticated/Forbidden unless the caller holds `scope`.

        Reads of stored data are open to anonymous callers when ANONYMOUS_READS is on;
        fetching and administration always need a key. Declared where it applies: schema
        permissions on fields, `requires(scope)` on REST routes.
        """
        if self.may(scope):
            return
        if self.principal is None:
            raise Unauthenticated(KEY_REQUIRED)
        raise Forbidden(f"this API key lacks the {scope.value!r} scope")

    def caller(self) -> Principal:
        """The caller's key (any scope); Unauthenticated for an anonymous caller."""
        if self.principal is None:
            raise Unauthenticated(KEY_REQUIRED)
        return self.principal


def make_context(
    services: Services,
    principal: Principal | None,
    *,
    trace_id: str | None = None,
    writes: bool = False,
) -> RequestContext:
    """A fresh context (fresh loaders) for one request; `writes`: it reads the primary only."""
    reads = ReadRoute(
        services.pool,
        services.replicas,
        primary_only=writes,
        on_fallback=services.on_replica_fallback,
    )
    gate = FetchGate(
        services.read_through if services.fetch_on_miss else None,
        allowed=principal is not None and principal.has(Scope.FETCH),
        on_stored=reads.wrote,
    )
    loaders = Loaders.create(
        reads,
        gate,
        services.newest_bar_times,
        chunk=services.bar_chunks,
        rollup_tails=services.backend is not RollupBackend.PORTABLE,
    )
    return RequestContext(services, principal, gate, loaders, reads, trace_id=trace_id)
