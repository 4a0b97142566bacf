"""Read replicas: one pool per streaming replica, and how far behind the primary each one is.

Lag is measured against the primary, not guessed from a clock: a replica whose replayed WAL
position has reached the primary's current one (sampled just before) is 0 s behind, however
long ago its last transaction was. Only while WAL is pending is the lag the age of the last
transaction it replayed (`now() - pg_last_xact_replay_timestamp()`), which over-states it after
a quiet spell: a replica is then skipped a moment too long rather than read too stale. A replica
that does not answer, or is not in recovery at all, is down until a later sample says
otherwise; which replica a read may use is decided in resolvers/read_route.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field

import asyncpg

from storage.pool import create_pool

log = logging.getLogger(__name__)
SAMPLE_TIMEOUT_SECONDS = 2.0
_REPLICA_STATE = """
SELECT pg_is_in_recovery() AS in_recovery,
       pg_last_wal_replay_lsn()::text AS replayed,
       extract(epoch FROM now() - pg_last_xact_replay_timestamp())::float8 AS since_last_replay
"""


@dataclass(eq=False)
class Replica:
    """One replica: its pool (opened lazily, so a replica down at start-up is not fatal)."""

    index: int  # position in DATABASE_READ_URLS: the metrics label, never the URL (passwords)
    url: str
    pool: asyncpg.Pool | None = None
    up: bool = False
    lag_seconds: float = math.inf
    failures: int = field(default=0)


def _lag(replayed: str | None, primary_lsn: str, since_last_replay: float | None) -> float:
    """Seconds behind: 0 once the primary's position is replayed, else the last replay's age."""
    if replayed is not None and _lsn(replayed) >= _lsn(primary_lsn):
        return 0.0
    if since_last_replay is None:  # nothing replayed yet since it started
        return math.inf
    return max(0.0, since_last_replay)


def _lsn(text: str) -> int:
    """A WAL position `X/Y` as a number."""
    high, low = text.split("/")
    return (int(high, 16) << 32) | int(low, 16)


class ReplicaSet:
    """The primary pool plus the replicas; `sample()` refreshes each replica's health and lag."""

    def __init__(
        self,
        primary: asyncpg.Pool,
        urls: Sequence[str],
        *,
        max_lag_seconds: float,
        pool_max_size: int = 10,
        command_timeout: float = 30.0,
        statement_timeout: float = 0,
    ) -> None:
        self.primary = primary
        self.replicas = [Replica(i, url) for i, url in enumerate(urls)]
        self.max_lag_seconds = max_lag_seconds
        self._pool_max_size = pool_max_size
        self._command_timeout = command_timeout
        self._statement_timeout = statement_timeout  # requests read here too: same limit
        self._turn = itertools.count()

    def next_usable(self) -> Replica | None:
        """The usable replicas in turn (round robin), None when none is usable."""
        usable = self.usable()
        return usable[next(self._turn) % len(usable)] if usable else None

    def usable(self) -> list[Replica]:
        """Replicas that answered the last sample and were at most `max_lag_seconds` behind."""
        return [
            r
            for r in self.replicas
            if r.up and r.pool is not None and r.lag_seconds <= self.max_lag_seconds
        ]

    def mark_down(self, replica: Replica, error: BaseException) -> None:
        """A read on `replica` failed for want of a connection: skip it until it answers again."""
        if replica.up:
            log.warning(
                "read replica down", extra={"replica": replica.index, "error": type(error).__name__}
            )
        replica.up = False
        replica.failures += 1

    async def sample(self) -> None:
        """Ask the primary for its WAL position, then every replica how far it has replayed."""
        try:
            primary_lsn = str(
                await asyncio.wait_for(
                    self.primary.fetchval("SELECT pg_current_wal_lsn()::text"),
                    SAMPLE_TIMEOUT_SECONDS,
                )
            )
        except Exception as exc:  # the primary is down (probes and alerts say so): keep the last
            log.debug("replica lag not sampled", extra={"error": type(exc).__name__})
            return
        await asyncio.gather(*(self._sample_one(r, primary_lsn) for r in self.replicas))

    async def _sample_one(self, replica: Replica, primary_lsn: str) -> None:
        try:
            if replica.pool is None:
                replica.pool = await asyncio.wait_for(
                    create_pool(
                        replica.url,
                        min_size=0,  # no reconnect loop in the background while it is down
                        max_size=self._pool_max_size,
                        command_timeout=self._command_timeout,
                        statement_timeout=self._statement_timeout,
                    ),
                    SAMPLE_TIMEOUT_SECONDS,
                )
            row = await asyncio.wait_for(
                replica.pool.fetchrow(_REPLICA_STATE), SAMPLE_TIMEOUT_SECONDS
            )
        except Exception as exc:  # unreachable, refusing, timing out: all mean "down"
            self.mark_down(replica, exc)
            return
        if row is None or not row["in_recovery"]:
            if replica.up or replica.failures == 0:
                log.warning(
                    "DATABASE_READ_URLS entry is not a replica", extra={"replica": replica.index}
                )
            replica.up, replica.failures = False, replica.failures + 1
            return
        if not replica.up:
            log.info("read replica up", extra={"replica": replica.index})
        replica.up = True
        replica.lag_seconds = _lag(row["replayed"], primary_lsn, row["since_last_replay"])

    @contextlib.asynccontextmanager
    async def sampling(self, interval_seconds: float) -> AsyncIterator[ReplicaSet]:
        """Sample once now, then every `interval_seconds` while the block runs; close pools."""
        await self.sample()

        async def loop() -> None:
            while True:
                await asyncio.sleep(interval_seconds)
                try:
                    await self.sample()
                except Exception:  # a bug must not end sampling: replicas would never recover
                    log.exception("replica sampling failed")

        task = asyncio.create_task(loop())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await asyncio.gather(
                *(r.pool.close() for r in self.replicas if r.pool is not None),
                return_exceptions=True,
            )
