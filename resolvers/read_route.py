"""Which database one request reads from: a healthy replica, or the primary.

Reads go to a replica that answered its last health sample within `MAX_REPLICA_LAG_SECONDS`.
They go to the primary instead once the request has written anything (a REST call other than
GET/HEAD, fetch-on-miss that stored or waited for bars), so a request always sees its own
writes. Mutations (key management, tracked symbols), authentication and live subscriptions use
the primary pool directly and never come here. A replica that fails for want of a connection
is marked down and the same statement runs on the primary: the client never sees a replica's
outage.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from domain.errors import Unavailable
from storage.replicas import ReplicaSet
from storage.unavailable import UNREACHABLE

T = TypeVar("T")
# A replica that cannot answer: storage translates most of these into `Unavailable`.
REPLICA_FAILED: tuple[type[BaseException], ...] = (Unavailable, *UNREACHABLE)
Statement = Callable[[asyncpg.Pool], Awaitable[T]]


class ReadRoute:
    """One request's reads: on a replica until the request writes, then on the primary."""

    __slots__ = ("_primary", "_replicas", "on_fallback", "primary_only")

    def __init__(
        self,
        primary: asyncpg.Pool,
        replicas: ReplicaSet | None = None,
        *,
        primary_only: bool = False,
        on_fallback: Callable[[], None] | None = None,
    ) -> None:
        self._primary = primary
        self._replicas = replicas
        self.primary_only = primary_only
        self.on_fallback = on_fallback

    def wrote(self) -> None:
        """This request changed data: every later read must see it, so reads use the primary."""
        self.primary_only = True

    async def read(self, statement: Statement[T]) -> T:
        """Run a read-only `statement` on a usable replica, else (or if it fails) the primary."""
        replicas = None if self.primary_only else self._replicas
        replica = None if replicas is None else replicas.next_usable()
        if replicas is None or replica is None or replica.pool is None:
            return await statement(self._primary)
        try:
            return await statement(replica.pool)
        except REPLICA_FAILED as exc:
            replicas.mark_down(replica, exc)
            if self.on_fallback is not None:
                self.on_fallback()
            return await statement(self._primary)
