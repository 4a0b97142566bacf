"""Who is calling and what a key may do: shared by authentication, the services and the schema."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Scope(StrEnum):
    """What a key may do. `admin` implies `fetch`, and `fetch` implies `read`."""

    READ = "read"
    FETCH = "fetch"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: what the HTTP layer and resolvers need to authorise a request."""

    key_id: int
    name: str
    scopes: frozenset[Scope]
    rate_limit_per_minute: float | None = None
    expires_at: datetime | None = None

    def has(self, scope: Scope) -> bool:
        """True when one of the key's scopes grants `scope` (admin ⊇ fetch ⊇ read)."""
        if scope in self.scopes or Scope.ADMIN in self.scopes:
            return True
        return scope is Scope.READ and Scope.FETCH in self.scopes

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now
