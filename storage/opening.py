"""Why a database could not be opened, in one sentence a person can act on.

asyncpg raises what the socket or the server said (`ConnectionRefusedError`,
`InvalidCatalogNameError`, `ClientConfigurationError`, ...), and the commands printed it as a
traceback that never named the database it tried. `CannotOpenDatabase` names it (never its
password), says what went wrong and, for the common mistakes, what to do.
"""

from __future__ import annotations

import socket
from urllib.parse import parse_qs, urlsplit

import asyncpg

OPEN_FAILURES: tuple[type[BaseException], ...] = (
    OSError,  # refused, unknown host, timed out, SSL refused
    asyncpg.PostgresError,  # the server said no: no such database or role, too many clients
    asyncpg.InterfaceError,  # a URL asyncpg cannot use (ClientConfigurationError)
    ValueError,  # a URL that does not parse (a port that is not a number)
)
"""What opening a connection raises when the database cannot be opened."""


class CannotOpenDatabase(ConnectionError):
    """The database at a URL could not be opened; the message says why and what to do.

    A `ConnectionError`, so whatever treated the driver's own errors as "unreachable" still
    does."""


def where(url: str) -> str:
    """The URL as it may be shown: `user@host:port/database`, without its password (a
    `host=` parameter, such as a Unix socket directory, names the host)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or parse_qs(parts.query).get("host", ["localhost"])[0]
        port = parts.port or 5432
    except ValueError:
        return "(a URL that does not parse)"
    user = f"{parts.username}@" if parts.username else ""
    return f"{user}{host}:{port}{parts.path or '/'}"


def cannot_open(url: str, error: BaseException) -> CannotOpenDatabase:
    """The error to raise instead of `error`, raised while opening `url`."""
    shown = where(url)
    if isinstance(error, asyncpg.InvalidCatalogNameError):
        name = (urlsplit(url).path or "/").lstrip("/")
        hint = f"create it (`createdb {name}`) or point the URL at a database that exists"
        return CannotOpenDatabase(f"cannot open the database {shown}: {error}; {hint}")
    if isinstance(
        error, asyncpg.InvalidAuthorizationSpecificationError | asyncpg.InvalidPasswordError
    ):
        hint = "check the user and password in the URL"
        return CannotOpenDatabase(f"PostgreSQL at {shown} refused the login: {error}; {hint}")
    if isinstance(error, asyncpg.ClientConfigurationError | ValueError):
        hint = "it must look like postgresql://user:password@host:5432/database"
        return CannotOpenDatabase(f"the database URL cannot be used ({error}); {hint}")
    if isinstance(error, socket.gaierror):
        return CannotOpenDatabase(f"cannot reach PostgreSQL at {shown}: unknown host ({error})")
    if isinstance(error, ConnectionRefusedError):
        return CannotOpenDatabase(
            f"cannot reach PostgreSQL at {shown}: connection refused (is it running there?)"
        )
    if isinstance(error, TimeoutError):
        return CannotOpenDatabase(f"cannot reach PostgreSQL at {shown}: no answer in time")
    if isinstance(error, OSError):
        return CannotOpenDatabase(f"cannot reach PostgreSQL at {shown}: {error}")
    return CannotOpenDatabase(f"cannot open the database {shown}: {error}")
