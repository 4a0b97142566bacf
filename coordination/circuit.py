"""The upstream circuit's open state in Redis: one worker's open circuit is every worker's.

When a worker's breaker opens it stores "open" for the breaker's reset timeout; every worker
checks that before calling upstream and fails fast meanwhile, so an outage costs the fleet one
worker's failures, not each worker's. Unknown while Redis is unreachable (each worker decides
alone, as without Redis).
"""

from __future__ import annotations

from coordination.link import FAILURES, RedisLink


class SharedCircuit:
    """`open_for()` / `opened(seconds)` / `closed()` on one Redis key with a TTL."""

    def __init__(self, link: RedisLink, name: str = "polygon") -> None:
        self._link = link
        self._key = link.key("circuit", name)

    async def open_for(self) -> float:
        """Seconds the shared circuit stays open (0: closed, or Redis cannot say)."""
        if not self._link.up:
            return 0.0
        try:
            millis = await self._link.client.pttl(self._key)
        except FAILURES as exc:
            self._link.failed(exc)
            return 0.0
        return millis / 1000 if millis > 0 else 0.0

    async def opened(self, seconds: float) -> None:
        """Tell every worker the circuit is open for `seconds`."""
        if not self._link.up or seconds <= 0:
            return
        try:
            await self._link.client.set(self._key, b"open", px=max(1, round(seconds * 1000)))
        except FAILURES as exc:
            self._link.failed(exc)

    async def closed(self) -> None:
        """A trial call succeeded: every worker may call again."""
        if not self._link.up:
            return
        try:
            await self._link.client.delete(self._key)
        except FAILURES as exc:
            self._link.failed(exc)
