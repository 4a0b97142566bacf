"""Driver failures that mean "the database is not answering", translated at the storage
boundary into `Unavailable` (UNAVAILABLE, HTTP 503: retry later) instead of an internal error.

Anything else the driver raises (a constraint, a syntax error) is a bug or a conflict and
keeps its own type, so it is masked and logged as INTERNAL, or handled where it is expected.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

import asyncpg

from domain.errors import Unavailable

P = ParamSpec("P")
T = TypeVar("T")

UNREACHABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, reset, unreachable host
    TimeoutError,  # the pool's command_timeout, or no free connection in time
    asyncpg.InterfaceError,  # a closed pool or connection
    asyncpg.PostgresConnectionError,  # SQLSTATE 08: the connection failed or was lost
    asyncpg.CannotConnectNowError,  # starting up or shutting down
    asyncpg.TooManyConnectionsError,
    asyncpg.QueryCanceledError,  # statement_timeout or an administrator's cancel
)
MESSAGE = "the database is unavailable right now; retry shortly"


def when_unreachable(fn: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """Raise `Unavailable` from `fn` when the database cannot be reached or did not answer."""

    @functools.wraps(fn)
    async def translated(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return await fn(*args, **kwargs)
        except UNREACHABLE as exc:
            raise Unavailable(MESSAGE) from exc

    return translated
