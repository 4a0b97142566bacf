"""The one set of error codes, and the exceptions that carry them through every layer.

Each layer raises these (storage translates driver failures, the upstream client translates
HTTP failures, the service layer validates input), and each front end maps them exactly once:
`schema/errors.py` to GraphQL `extensions.code`, `gateway/responses.py` to an HTTP status and
the body `{"detail", "code"}`.
"""

from __future__ import annotations

import enum
from typing import Any


class ErrorCode(enum.StrEnum):
    """What went wrong, as clients branch on it."""

    BAD_USER_INPUT = "BAD_USER_INPUT"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    RATE_LIMITED = "RATE_LIMITED"
    PAYLOAD_TOO_LARGE = "PAYLOAD_TOO_LARGE"
    UNSUPPORTED_MEDIA_TYPE = "UNSUPPORTED_MEDIA_TYPE"
    UPSTREAM_UNAVAILABLE = "UPSTREAM_UNAVAILABLE"
    UNAVAILABLE = "UNAVAILABLE"
    INTERNAL = "INTERNAL"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    PERSISTED_QUERY_HASH_MISMATCH = "PERSISTED_QUERY_HASH_MISMATCH"
    PERSISTED_QUERY_NOT_ALLOWED = "PERSISTED_QUERY_NOT_ALLOWED"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.BAD_USER_INPUT: 400,
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    ErrorCode.PAYLOAD_TOO_LARGE: 413,
    ErrorCode.UNSUPPORTED_MEDIA_TYPE: 415,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
    ErrorCode.UPSTREAM_UNAVAILABLE: 502,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.PERSISTED_QUERY_NOT_FOUND: 404,  # over /graphql a GraphQL error with 200, as Apollo
    ErrorCode.PERSISTED_QUERY_HASH_MISMATCH: 400,
    ErrorCode.PERSISTED_QUERY_NOT_ALLOWED: 403,
}
"""The HTTP status of each code (REST routes and refusals before GraphQL runs)."""


class ServiceError(Exception):
    """Base class: every error raised on purpose, with its code and extra details for clients.

    `message` is what clients are shown; `str(error)` is the detail for the log. They are the
    same except for upstream errors (whose detail names upstream URLs and upstream text) and
    INTERNAL errors, which are masked.
    """

    code: ErrorCode = ErrorCode.INTERNAL

    def __init__(self, message: str, **extensions: Any) -> None:
        super().__init__(message)
        self.extensions = extensions

    @property
    def message(self) -> str:
        return str(self)


class InvalidInput(ServiceError):
    """The caller asked for something that cannot be answered (bad ticker, range, limit...)."""

    code = ErrorCode.BAD_USER_INPUT


class StatementTimeout(InvalidInput):
    """The database cancelled a statement at the statement time limit: the request asked for
    more work than one response may cause (a client's to narrow, not a fault to retry)."""


class NotFound(ServiceError):
    """The thing asked for does not exist."""

    code = ErrorCode.NOT_FOUND


class Conflict(ServiceError):
    """The thing to create exists already (e.g. a symbol tracked twice)."""

    code = ErrorCode.CONFLICT


class Unauthenticated(ServiceError):
    """No key where one is needed, or a key that is unknown, revoked or expired."""

    code = ErrorCode.UNAUTHENTICATED


class Forbidden(ServiceError):
    """The key is valid but lacks the scope needed."""

    code = ErrorCode.FORBIDDEN


class RateLimited(ServiceError):
    """Too many requests; `retry_after` is in seconds (None: unknown)."""

    code = ErrorCode.RATE_LIMITED

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        extra = {} if retry_after is None else {"retryAfter": retry_after}
        super().__init__(message, **extra)
        self.retry_after = retry_after


class PayloadTooLarge(ServiceError):
    """A request body over the configured limit."""

    code = ErrorCode.PAYLOAD_TOO_LARGE


class Unavailable(ServiceError):
    """The database cannot be reached or did not answer in time; retrying later may work."""

    code = ErrorCode.UNAVAILABLE


class UpstreamError(ServiceError):
    """Base for failures of the upstream market-data provider.

    Clients get `public_message`; the detail (URLs, upstream's own text) stays in the log.
    """

    code = ErrorCode.UPSTREAM_UNAVAILABLE
    public_message = "the market-data provider failed; retry later"

    @property
    def message(self) -> str:
        return self.public_message


class UpstreamUnavailable(UpstreamError):
    """Upstream is down, timing out, answering 5xx or malformed data, or the breaker is open."""

    public_message = "the market-data provider is unavailable or answered unusably; retry later"


class UpstreamRateLimited(RateLimited, UpstreamError):
    """Upstream kept answering 429 after the retries allowed."""

    code = ErrorCode.RATE_LIMITED
    public_message = "the market-data provider's request budget is spent; retry later"


class UpstreamConfigError(UpstreamError):
    """Upstream refused our credentials (401/403): a configuration problem, never retried."""

    public_message = "the market-data provider refused the gateway's configuration"


class PersistedQueryNotFound(ServiceError):
    """A persisted-query hash without its document, and the document is not known (any more):
    the client sends the document along with the hash, and it is registered."""

    code = ErrorCode.PERSISTED_QUERY_NOT_FOUND


class PersistedQueryHashMismatch(ServiceError):
    """A document sent with a persisted-query hash that is not the document's SHA-256."""

    code = ErrorCode.PERSISTED_QUERY_HASH_MISMATCH


class PersistedQueryNotAllowed(ServiceError):
    """A document outside the allow-list while only listed documents may run."""

    code = ErrorCode.PERSISTED_QUERY_NOT_ALLOWED
