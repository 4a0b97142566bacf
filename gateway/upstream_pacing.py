"""The Polygon request budget shared by every process over one database.

Each upstream request reserves its slot in PostgreSQL (`storage.upstream_budget`), which every
worker and instance already shares, so `--workers 4` or several instances still make at most
POLYGON_REQUESTS_PER_MINUTE requests a minute — with or without Redis. When the database
cannot answer, the process paces itself locally (the request is about to fail to store anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from domain.token_bucket import Sleep, TokenBucket
from storage import upstream_budget
from storage.unavailable import UNREACHABLE

log = logging.getLogger(__name__)

BUDGET_NAME = "polygon"
_FAILED: tuple[type[BaseException], ...] = (*UNREACHABLE, asyncpg.PostgresError)


class SharedPacer:
    """`acquire()` waits for this request's slot in the shared budget."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        requests_per_minute: float,
        *,
        burst: int = 1,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        if requests_per_minute <= 0 or burst < 1:
            raise ValueError("requests_per_minute must be > 0 and burst >= 1")
        self._pool = pool
        self._interval = 60.0 / requests_per_minute
        self._burst = burst
        self._sleep = sleep
        self._local = TokenBucket(requests_per_minute / 60.0, burst, sleep=sleep)

    async def acquire(self) -> None:
        try:
            wait = await upstream_budget.reserve(
                self._pool, BUDGET_NAME, self._interval, self._burst
            )
        except _FAILED as exc:
            log.warning(
                "upstream budget unavailable in the database: pacing this process alone",
                extra={"error": type(exc).__name__},
            )
            await self._local.acquire()
            return
        if wait <= 0:
            return
        try:
            await self._sleep(wait)
        except BaseException:  # cancelled while waiting: the slot goes to whoever is next
            with contextlib.suppress(*_FAILED):
                await upstream_budget.release(self._pool, BUDGET_NAME, self._interval)
            raise
