"""Verified API keys remembered for a while, so most requests cost no key lookup."""

from __future__ import annotations

import time

from domain.access import Principal
from domain.clocks import Monotonic


class KeyCache:
    """Verified keys for `ttl_seconds`, unknown ones for `negative_ttl_seconds`.

    Keyed by the key's digest, never the key. A revoked key keeps working in a process for at
    most `ttl_seconds` (or until `forget(key_id)` there); a repeated bad key costs one lookup
    per `negative_ttl_seconds`. Bounded: the oldest entries go first.
    """

    def __init__(
        self,
        ttl_seconds: float = 30.0,
        *,
        negative_ttl_seconds: float = 5.0,
        max_entries: int = 10_000,
        clock: Monotonic = time.monotonic,
    ) -> None:
        if ttl_seconds < 0 or negative_ttl_seconds < 0 or max_entries < 1:
            raise ValueError("cache TTLs must be >= 0 and max_entries >= 1")
        self._ttl = ttl_seconds
        self._negative_ttl = negative_ttl_seconds
        self._max = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, Principal | None]] = {}

    def get(self, digest: str) -> tuple[bool, Principal | None]:
        """(True, principal-or-None) on a fresh hit, (False, None) on a miss."""
        entry = self._entries.get(digest)
        if entry is None:
            return False, None
        expires, principal = entry
        if self._clock() >= expires:
            del self._entries[digest]
            return False, None
        return True, principal

    def put(self, digest: str, principal: Principal | None) -> None:
        ttl = self._ttl if principal is not None else self._negative_ttl
        if ttl <= 0:
            return
        self._entries.pop(digest, None)
        while len(self._entries) >= self._max:
            del self._entries[next(iter(self._entries))]
        self._entries[digest] = (self._clock() + ttl, principal)

    def forget(self, key_id: int) -> None:
        """Drop a key at once (after revoking, restoring or deleting it in this process).

        Unknown-key entries go too: a restored key was remembered as unknown while revoked.
        """
        stale = [d for d, (_, p) in self._entries.items() if p is None or p.key_id == key_id]
        for digest in stale:
            del self._entries[digest]

    def __len__(self) -> int:
        return len(self._entries)
