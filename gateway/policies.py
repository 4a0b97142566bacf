"""The TimescaleDB policy loop inside the gateway: compression and minute-bar retention.

Every worker runs one; storage/policies.py lets one process at a time do the work. Runs at
start-up (in the background, so a large first compression never delays serving) and then every
`interval` seconds. Where full TimescaleDB does not run, the settings are ignored with one
warning, never an error: the same configuration works against any PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg

from domain.clocks import WallClock, utc_now
from gateway.settings import Settings
from storage.features import RollupBackend, detect
from storage.policies import Policies, PolicyRun, enforce, unsupported_reason

log = logging.getLogger(__name__)

POLICY_INTERVAL_SECONDS = 3600.0


class PolicyRunner:
    """Enforces `policies` on the database behind `pool` while `running_while()` is open."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        backend: RollupBackend,
        policies: Policies,
        *,
        interval: float = POLICY_INTERVAL_SECONDS,
        now: WallClock = utc_now,
    ) -> None:
        self._pool = pool
        self._backend = backend
        self.policies = policies
        self._interval = interval
        self._now = now
        self.active = False  # decided at start-up: set and supported

    async def run_once(self) -> PolicyRun | None:
        """One run now (None when another process is running one)."""
        async with self._pool.acquire() as conn:
            done = await enforce(conn, self.policies, self._now())
        if done is not None and (done.chunks_compressed or done.minute_bars_deleted):
            log.info(
                "TimescaleDB policies applied",
                extra={
                    "chunks_compressed": done.chunks_compressed,
                    "minute_bars_deleted": done.minute_bars_deleted,
                    "minute_bars_kept_from": str(done.retained_from),
                },
            )
        return done

    @contextlib.asynccontextmanager
    async def running_while(self) -> AsyncIterator[PolicyRunner]:
        """Run the loop for the duration of the block (the app's lifespan), if it applies."""
        self.active = await self._decide()
        task = asyncio.create_task(self._loop(), name="tsdb-policies") if self.active else None
        try:
            yield self
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _decide(self) -> bool:
        if not self.policies.enabled:
            return False
        async with self._pool.acquire() as conn:
            reason = unsupported_reason(await detect(conn), self._backend)
        if reason is not None:
            log.warning("COMPRESS_AFTER and RETAIN_MINUTE_BARS_FOR are ignored: %s", reason)
            return False
        log.info(
            "TimescaleDB policies on",
            extra={
                "compress_after": str(self.policies.compress_after),
                "retain_minute_bars_for": str(self.policies.retain_minute_bars_for),
            },
        )
        return True

    async def _loop(self) -> None:
        while True:  # until cancelled at shutdown
            try:
                await self.run_once()
            except Exception:  # one failed run must not stop the next
                log.exception("TimescaleDB policy run failed")
            await asyncio.sleep(self._interval)


def policy_runner(settings: Settings, pool: asyncpg.Pool, backend: RollupBackend) -> PolicyRunner:
    """The runner of COMPRESS_AFTER and RETAIN_MINUTE_BARS_FOR."""
    policies = Policies(settings.compress_after, settings.retain_minute_bars_for)
    return PolicyRunner(pool, backend, policies)
