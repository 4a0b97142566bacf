"""The upstream circuit's state in Redis: one worker's open circuit is every worker's, and
after the open period one trial call for the whole fleet, not one per worker.

When a worker's breaker opens it stores "open" for the breaker's reset timeout and marks the
circuit tripped; every worker checks before calling upstream and fails fast meanwhile, so an
outage costs the fleet one worker's failures, not each worker's. Once "open" expires, the
first worker to claim the trial (SET NX, leased) makes the only call; its success closes the
circuit for everyone, its failure opens it again. Unknown while Redis is unreachable (each
worker decides alone, as without Redis).
"""

from __future__ import annotations

from coordination.link import FAILURES, RedisLink
from domain.circuit import Admission

# How long a tripped circuit waits for its trial: a quiet fleet's next call after this is an
# ordinary call, and the breakers count failures afresh.
TRIPPED_SECONDS = 3600.0


class SharedCircuit:
    """`admit()` before a call, `opened(seconds)` / `closed()` after one, on keys with TTLs."""

    def __init__(self, link: RedisLink, name: str = "polygon") -> None:
        self._link = link
        self._open = link.key("circuit", name)
        self._tripped = link.key("circuit", name, "tripped")
        self._trial = link.key("circuit", name, "trial")

    async def admit(self, lease_seconds: float) -> Admission:
        """Open: wait. Tripped and no trial under way: this call is the trial, leased for
        `lease_seconds` (a worker that dies during it holds the fleet back no longer). Else: go."""
        if not self._link.up:
            return Admission()
        client = self._link.client
        try:
            async with client.pipeline(transaction=False) as pipe:  # one round trip
                pipe.pttl(self._open)
                pipe.exists(self._tripped)
                open_ms, tripped = await pipe.execute()
            if open_ms > 0 or not tripped:
                return Admission(wait=max(open_ms, 0) / 1000)
            lease_ms = max(1, round(lease_seconds * 1000))
            if await client.set(self._trial, b"1", nx=True, px=lease_ms):
                return Admission(trial=True)
            trial_ms = await client.pttl(self._trial)
        except FAILURES as exc:
            self._link.failed(exc)
            return Admission()
        return Admission(wait=max(trial_ms, 1) / 1000)

    async def opened(self, seconds: float) -> None:
        """Tell every worker the circuit is open for `seconds` (then one trial)."""
        if not self._link.up or seconds <= 0:
            return
        try:
            async with self._link.client.pipeline(transaction=True) as pipe:
                pipe.set(self._open, b"open", px=max(1, round(seconds * 1000)))
                pipe.set(self._tripped, b"1", px=round((seconds + TRIPPED_SECONDS) * 1000))
                pipe.delete(self._trial)
                await pipe.execute()
        except FAILURES as exc:
            self._link.failed(exc)

    async def released(self) -> None:
        """The trial proved nothing (a client error, cancelled): the next call may try."""
        await self._delete(self._trial)

    async def closed(self) -> None:
        """A trial call succeeded: every worker may call again."""
        await self._delete(self._open, self._tripped, self._trial)

    async def _delete(self, *keys: str) -> None:
        if not self._link.up:
            return
        try:
            await self._link.client.delete(*keys)
        except FAILURES as exc:
            self._link.failed(exc)
