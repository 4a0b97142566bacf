"""Driver failures that mean "the database is not answering", translated at the storage
boundary into `Unavailable` (UNAVAILABLE, HTTP 503: retry later) instead of an internal error
— except a statement PostgreSQL cancelled at `statement_timeout`: `StatementTimeout`
(BAD_USER_INPUT, HTTP 400), since the request asked for too much work.

Anything else the driver raises (a constraint, a syntax error) is a bug or a conflict and
keeps its own type, so it is masked and logged as INTERNAL, or handled where it is expected.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import asyncpg

from domain.errors import ServiceError, StatementTimeout, Unavailable

P = ParamSpec("P")
T = TypeVar("T")

UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable host
    TimeoutError,  # the pool's command_timeout, or no free connection in time
    asyncpg.InterfaceError,  # a closed pool or connection
    asyncpg.PostgresConnectionError,  # SQLSTATE 08: the connection failed or was lost
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.AdminShutdownError,  # the server is stopping: our backend was told to quit
    asyncpg.CrashShutdownError,  # another backend crashed: every session is reset
    # a connection the server cut while it sat idle: asyncpg's protocol state is left broken
    # ("cannot switch to state 12; another operation is in progress")
    asyncpg.InternalClientError,
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,  # statement_timeout or an administrator's cancel
)
CONNECTION_LOST: tuple[type[BaseException], ...] = (
    ConnectionError,  # reset, broken pipe, refused
    asyncpg.InterfaceError,  # the connection was found closed
    asyncpg.PostgresConnectionError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.InternalClientError,
)
"""Failures after which the same statement may well work on a fresh connection."""
CLOSED_TO_CONNECTIONS = "is not currently accepting connections"
"""SQLSTATE 55000 at connect: the database is closed to connections (ALLOW_CONNECTIONS false,
as during maintenance); the same code also means bugs (currval before nextval), hence the text."""
MESSAGE = "the database is unavailable right now; retry shortly"
TIMED_OUT = (
    "the database stopped this request's query at the statement time limit: ask for a"
    " shorter window, fewer symbols or a lower limit"
)
log = logging.getLogger(__name__)


def unreachable(exc: BaseException) -> bool:
    """Whether `exc` means the database is not answering (rather than a bug or a conflict)."""
    if isinstance(exc, asyncpg.ObjectNotInPrerequisiteStateError):
        return CLOSED_TO_CONNECTIONS in str(exc)
    return isinstance(exc, UNREACHABLE)


def client_error(exc: BaseException) -> ServiceError:
    """The error a client gets for a driver failure in UNREACHABLE: a statement cancelled by
    `statement_timeout` is the request's doing (too much work), anything else is ours."""
    if isinstance(exc, asyncpg.QueryCanceledError) and "statement timeout" in str(exc):
        return StatementTimeout(TIMED_OUT)
    # the client is told only to retry: the log says why (a refused connection, too many
    # clients, a server shutting down), with the request's trace id
    log.warning("database unavailable: %s: %s", type(exc).__name__, exc)
    return Unavailable(MESSAGE)


def when_unreachable(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Raise `Unavailable` from `fn` when the database cannot be reached or did not answer."""

    @functools.wraps(fn)
    async def translated(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            if unreachable(exc):
                raise client_error(exc) from exc
            raise

    return translated


def idempotent_read(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """`when_unreachable` for a statement that only reads: when it ran on the pool and its
    connection died (a server restart, a failover, a killed backend), it runs once more on
    a fresh connection — the pool's idle connections are expired first, since a restart
    killed them all — before `Unavailable` is raised."""

    @functools.wraps(fn)
    async def read(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except CONNECTION_LOST as exc:
            pool = args[0] if args else None
            if not isinstance(pool, asyncpg.Pool):
                raise client_error(exc) from exc
            log.info("read retried on a fresh connection", extra={"error": type(exc).__name__})
            await pool.expire_connections()
        except Exception as exc:
            if unreachable(exc):
                raise client_error(exc) from exc
            raise
        try:
            return await fn(*args, **kwargs)
        except Exception as exc:
            if unreachable(exc):
                raise client_error(exc) from exc
            raise

    return read
