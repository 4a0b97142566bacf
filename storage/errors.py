"""The storage layer's own exception types.

Driver and upstream failures are translated into these at the storage boundary so the layers
above (GraphQL, REST) map them to error codes without knowing asyncpg or httpx.
"""

from __future__ import annotations


class StorageError(Exception):
    """Base class: every error the storage layer raises on purpose."""

    code = "INTERNAL"


class InvalidInput(StorageError):
    """The caller asked for something that cannot be answered (bad timeframe, bad range...)."""

    code = "BAD_USER_INPUT"


class NotFound(StorageError):
    """The thing asked for does not exist."""

    code = "NOT_FOUND"


class UpstreamError(StorageError):
    """Base for failures of the upstream market-data provider."""

    code = "UPSTREAM_UNAVAILABLE"


class UpstreamUnavailable(UpstreamError):
    """Upstream is down, timing out, answering 5xx or malformed data, or the breaker is open."""

    code = "UPSTREAM_UNAVAILABLE"


class UpstreamRateLimited(UpstreamError):
    """Upstream kept answering 429 after the retries allowed; `retry_after` is in seconds."""

    code = "RATE_LIMITED"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class UpstreamConfigError(UpstreamError):
    """Upstream refused our credentials (401/403): a configuration problem, never retried."""

    code = "UPSTREAM_UNAVAILABLE"
