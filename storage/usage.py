"""Per-key usage counters and the audit trail, batched in memory and flushed every few seconds.

A request must not cost a database write: `record()` only appends to memory; `flush()` writes
everything gathered since the last flush in one transaction (one UPDATE ... FROM unnest for the
counters, one COPY for the audit rows) and, at most once an interval, applies audit retention.
A failed flush keeps its batch for the next one, so a database blip loses nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from domain.clocks import Monotonic, WallClock, utc_now
from storage import api_keys
from storage.api_keys import AuditRow
from storage.pool import NO_STATEMENT_TIMEOUT

log = logging.getLogger(__name__)

MAX_ENDPOINT_LENGTH = 200


@dataclass(slots=True)
class _Usage:
    count: int
    last_used: datetime


@dataclass(frozen=True, slots=True)
class FlushResult:
    """What one flush wrote: keys whose counters moved, audit rows added and removed."""

    keys_updated: int
    audit_written: int
    audit_deleted: int


class UsageRecorder:
    """Gathers usage and audit rows in memory; `flush()`/`run()` write them in batches.

    `audit_retention_days <= 0` keeps the audit forever. At most `max_pending_audit` rows wait
    in memory (the oldest are dropped, and counted, if the database stays away that long).
    """

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        audit_retention_days: int = 30,
        retention_interval_seconds: float = 3600.0,
        max_pending_audit: int = 100_000,
        clock: Monotonic = time.monotonic,
        now: WallClock = utc_now,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._pool = pool
        self._sleep = sleep
        self._retention = timedelta(days=audit_retention_days)
        self._retention_interval = retention_interval_seconds
        self._clock = clock
        self._now = now
        self._usage: dict[int, _Usage] = {}
        self._audit: deque[AuditRow] = deque(maxlen=max_pending_audit)
        self._dropped = 0
        self._last_retention: float | None = None
        self._lock = asyncio.Lock()

    @property
    def pending(self) -> int:
        """Audit rows waiting to be written."""
        return len(self._audit)

    def record(
        self,
        key_id: int,
        *,
        endpoint: str,
        method: str,
        status_code: int,
        duration_ms: float,
        at: datetime | None = None,
    ) -> None:
        """Count one request by `key_id` and queue its audit row; never touches the database."""
        at = at or self._now()
        usage = self._usage.get(key_id)
        if usage is None:
            self._usage[key_id] = _Usage(1, at)
        else:
            usage.count += 1
            usage.last_used = max(usage.last_used, at)
        if len(self._audit) == self._audit.maxlen:
            self._dropped += 1
        self._audit.append(
            (key_id, endpoint[:MAX_ENDPOINT_LENGTH], method[:16], status_code, at, duration_ms)
        )

    async def flush(self) -> FlushResult:
        """Write what has gathered since the last flush; on failure keep it and re-raise."""
        async with self._lock:
            usage, self._usage = self._usage, {}
            audit, self._audit = list(self._audit), deque(maxlen=self._audit.maxlen)
            if self._dropped:
                log.warning("audit rows dropped while waiting", extra={"dropped": self._dropped})
                self._dropped = 0
            try:
                return await self._write(usage, audit)
            except BaseException:
                self._restore(usage, audit)
                raise

    async def _write(self, usage: dict[int, _Usage], audit: list[AuditRow]) -> FlushResult:
        cutoff = self._retention_cutoff()
        if not usage and not audit and cutoff is None:
            return FlushResult(0, 0, 0)
        ids = sorted(usage)  # one lock order for every worker's flusher
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(NO_STATEMENT_TIMEOUT)  # accounting is not a request's work
            updated = 0
            if ids:
                updated = await api_keys.add_usage(
                    conn,
                    ids,
                    [usage[i].count for i in ids],
                    [usage[i].last_used for i in ids],
                )
            if audit:
                await api_keys.insert_audit(conn, audit)
            deleted = await api_keys.delete_audit_before(conn, cutoff) if cutoff else 0
        if cutoff is not None:
            self._last_retention = self._clock()
        return FlushResult(updated, len(audit), deleted)

    def _retention_cutoff(self) -> datetime | None:
        if self._retention <= timedelta(0):
            return None
        last = self._last_retention
        if last is not None and self._clock() - last < self._retention_interval:
            return None
        return self._now() - self._retention

    def _restore(self, usage: dict[int, _Usage], audit: list[AuditRow]) -> None:
        """Put a failed batch back in front of what arrived meanwhile."""
        for key_id, taken in usage.items():
            current = self._usage.get(key_id)
            if current is None:
                self._usage[key_id] = taken
            else:
                current.count += taken.count
                current.last_used = max(current.last_used, taken.last_used)
        newer = list(self._audit)
        self._audit.clear()
        self._audit.extend(audit)
        self._audit.extend(newer)

    async def run(self, interval: float) -> None:
        """Flush every `interval` seconds until cancelled; a failed flush is logged and retried."""
        while True:
            await self._sleep(interval)
            try:
                await self.flush()
            except Exception:
                log.exception("usage flush failed; will retry", extra={"pending": self.pending})

    @contextlib.asynccontextmanager
    async def running(self, interval: float) -> AsyncIterator[UsageRecorder]:
        """Run the flusher for the duration of the block, then flush what is left (lifespan)."""
        task = asyncio.create_task(self.run(interval), name="marketgraph-usage-flush")
        try:
            yield self
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise
            try:
                await self.flush()
            except Exception:
                log.exception("final usage flush failed", extra={"pending": self.pending})
