"""Cached GraphQL answers in Redis, shared by every worker and instance.

An entry's Redis key folds in a *generation token* for each ticker it names (and `*` for
entries naming none) plus a deployment-wide epoch. Invalidating a ticker replaces its token
with a fresh random one, so every entry naming it becomes unreachable at once and ages out by
its TTL; an answer computed while that happened is stored under the old tokens, where nobody
looks. Tokens are random, never counters, so a token that expired or was lost with Redis cannot
come back and revive old entries; they live twice the cache TTL, longer than any entry made
before them.

The count is bounded without relying on Redis' own eviction: a sorted set indexes the entries
by last use and the oldest beyond `max_entries` are deleted; an answer larger than
`max_entry_bytes` is not shared. Every call answers None (or False) while Redis is unreachable,
and the caller uses its own cache instead.
"""

from __future__ import annotations

import hashlib
import os
import time
from dataclasses import dataclass

from coordination.link import FAILURES, RedisLink

EPOCH = "epoch"
MAX_TAGS = 100
"""An answer naming more tickers than this is not shared (each costs a token read per lookup);
the worker's own cache, invalidated through PostgreSQL NOTIFY, keeps it instead."""


@dataclass(frozen=True, slots=True)
class Found:
    """The Redis key an answer lives (or would live) under, and its bytes if it is there."""

    key: str
    value: bytes | None


class SharedResponses:
    """Entries `<prefix>cache:e:<hash>`, tokens `<prefix>cache:g:<tag>`, index `cache:index`."""

    def __init__(
        self, link: RedisLink, ttl_seconds: float, max_entries: int, max_entry_bytes: int
    ) -> None:
        if ttl_seconds <= 0 or max_entries < 1 or max_entry_bytes < 1:
            raise ValueError("ttl_seconds, max_entries and max_entry_bytes must be positive")
        self._link = link
        self._ttl_ms = max(1, round(ttl_seconds * 1000))
        self._max_entries = max_entries
        self._max_entry_bytes = max_entry_bytes
        self._index = link.key("cache", "index")
        self._missed_invalidation = False

    @property
    def up(self) -> bool:
        return self._link.up

    def _token_key(self, tag: str) -> str:
        # a ticker comes from the request: a long one is hashed, not spelt into the key
        short = tag if len(tag) <= 64 else hashlib.blake2b(tag.encode(), digest_size=16).hexdigest()
        return self._link.key("cache", "g", short)

    async def lookup(self, digest: bytes, tags: frozenset[str]) -> Found | None:
        """The entry for `digest` under the current tokens of `tags`; None: Redis cannot say."""
        if not self._link.up or len(tags) > MAX_TAGS:
            return None
        client = self._link.client
        ordered = sorted(tags)
        try:
            if self._missed_invalidation:  # invalidations were lost while Redis was away
                await self._new_token(EPOCH)
                self._missed_invalidation = False
            tokens = await client.mget([self._token_key(t) for t in (EPOCH, *ordered)])
            hashed = hashlib.blake2b(digest, digest_size=20)
            for tag, token in zip((EPOCH, *ordered), tokens, strict=True):
                hashed.update(f"\x00{tag}\x00{_text(token)}".encode())
            key = self._link.key("cache", "e", hashed.hexdigest())
            async with client.pipeline(transaction=False) as pipe:
                pipe.get(key)
                pipe.zadd(self._index, {key: time.time()}, xx=True)  # last use, for eviction
                value, _ = await pipe.execute()
        except FAILURES as exc:
            self._link.failed(exc)
            return None
        return Found(key, value)

    async def store(self, key: str, value: bytes) -> bool:
        """Keep `value` under `key` (from `lookup`) for the TTL; False if not kept."""
        if not self._link.up or len(value) > self._max_entry_bytes:
            return False
        now = time.time()
        client = self._link.client
        try:
            async with client.pipeline(transaction=True) as pipe:
                pipe.set(key, value, px=self._ttl_ms)
                pipe.zadd(self._index, {key: now})
                pipe.zremrangebyscore(self._index, "-inf", now - self._ttl_ms / 1000)
                pipe.zcard(self._index)
                count = (await pipe.execute())[-1]
            if count > self._max_entries:
                oldest = await client.zpopmin(self._index, count - self._max_entries)
                keys = [pair[0] for pair in oldest if isinstance(pair[0], bytes)]
                if keys:
                    await client.delete(*keys)
        except FAILURES as exc:
            self._link.failed(exc)
            return False
        return True

    async def invalidate(self, tags: list[str]) -> None:
        """Make every entry naming one of `tags` unreachable (remembered if Redis is away)."""
        try:
            if not self._link.up:
                raise ConnectionError("Redis is unreachable")
            for tag in tags:
                await self._new_token(tag)
        except FAILURES as exc:
            self._link.failed(exc)
            self._missed_invalidation = True

    async def flush(self) -> None:
        """Every entry unreachable (e.g. invalidations may have been missed)."""
        await self.invalidate([EPOCH])

    async def _new_token(self, tag: str) -> None:
        token = os.urandom(8).hex()
        await self._link.client.set(self._token_key(tag), token, px=2 * self._ttl_ms)

    async def count(self) -> int | None:
        """Entries indexed (some may have expired since); None while Redis cannot say."""
        if not self._link.up:
            return None
        try:
            return int(await self._link.client.zcard(self._index))
        except FAILURES as exc:
            self._link.failed(exc)
            return None


def _text(token: bytes | str | None) -> str:
    """A token as Redis returned it; an absent one (never invalidated, or expired) is "0"."""
    if token is None:
        return "0"
    return token.decode() if isinstance(token, bytes) else token
