"""One Redis connection pool per process, and whether Redis answers right now.

A failed command marks the link down (logged once); while it is down nothing waits on Redis
(callers fall back at once) and a background probe pings every `probe_seconds` until Redis
answers again (logged once), so an outage costs no request its timeout more than once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

FAILURES: tuple[type[BaseException], ...] = (RedisError, OSError, TimeoutError, ValueError)
"""What a Redis command raises when the server is down, slow or gone, or when what answers on
REDIS_URL does not speak RESP (redis-py's parser then raises `ValueError`)."""


class RedisLink:
    """The client, the key prefix, and the up/down state (`on_change(up)` feeds a metric)."""

    def __init__(
        self,
        url: str,
        *,
        key_prefix: str = "marketgraph:",
        timeout_seconds: float = 0.5,
        probe_seconds: float = 1.0,
        on_change: Callable[[bool], None] | None = None,
    ) -> None:
        if timeout_seconds <= 0 or probe_seconds <= 0:
            raise ValueError("timeout_seconds and probe_seconds must be > 0")
        # a pooled connection that died with a restarted Redis is reconnected and the command
        # tried once more; a timeout is not retried (it already cost its wait)
        self.client = aioredis.Redis.from_url(
            url,
            socket_timeout=timeout_seconds,
            socket_connect_timeout=timeout_seconds,
            retry=Retry(NoBackoff(), 1),
            retry_on_error=[RedisConnectionError],
            retry_on_timeout=False,
        )
        self.prefix = key_prefix
        self.up = True
        self._probe_seconds = probe_seconds
        self._on_change = on_change or (lambda _: None)

    def key(self, *parts: str) -> str:
        return self.prefix + ":".join(parts)

    def failed(self, exc: BaseException) -> None:
        """A command failed: fall back until the probe sees Redis again."""
        if self.up:
            self.up = False
            log.warning(
                "Redis unreachable: limits, budgets and cache fall back to this process",
                extra={"error": type(exc).__name__},
            )
            self._on_change(False)

    def _back(self) -> None:
        if not self.up:
            self.up = True
            log.warning("Redis reachable again: limits, budgets and cache are shared again")
            self._on_change(True)

    async def ping(self) -> bool:
        """Whether Redis answers now (updates the state either way). Never raises: the
        readiness probe and the background probe must outlive whatever the client does."""
        try:
            if not self.up:  # idle connections from before an outage are dead: start afresh
                # (in-use ones are left to their command: closing them under it races)
                await self.client.connection_pool.disconnect(inuse_connections=False)
            await self.client.ping()
        except Exception as exc:
            if not isinstance(exc, FAILURES):
                log.exception("Redis ping failed unexpectedly")
            self.failed(exc)
            return False
        self._back()
        return True

    async def probe(self) -> None:
        """Until cancelled: ping at start, then every `probe_seconds` while Redis is down."""
        await self.ping()
        while True:
            await asyncio.sleep(self._probe_seconds)
            if not self.up:
                await self.ping()

    async def aclose(self) -> None:
        await self.client.aclose()


@contextlib.asynccontextmanager
async def running_link(link: RedisLink) -> AsyncIterator[RedisLink]:
    """The link with its probe running; closed on exit."""
    task = asyncio.create_task(link.probe())
    try:
        yield link
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await link.aclose()
