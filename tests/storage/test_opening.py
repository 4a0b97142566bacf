"""A database that cannot be opened is named and explained, against a real server: no such
database, no such role, nothing listening, a URL that cannot be used."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import pytest

from storage.opening import CannotOpenDatabase, where
from storage.pool import connect, create_pool
from tests.support.ports import free_port


async def _open_pool(url: str) -> object:
    return await create_pool(url, min_size=1, max_size=2)


OPENERS: list[Callable[[str], Awaitable[object]]] = [connect, _open_pool]


def _with(url: str, *, user: str | None = None, password: str | None = None,
          port: int | None = None, database: str | None = None) -> str:  # fmt: skip
    parts = urlsplit(url)
    host = parts.hostname or "127.0.0.1"
    login = user or parts.username or "postgres"
    secret = f":{password}" if password else ""
    netloc = f"{login}{secret}@{host}:{port or parts.port or 5432}"
    return urlunsplit(parts._replace(netloc=netloc, path="/" + (database or "postgres")))


@pytest.mark.parametrize("opener", OPENERS, ids=["connect", "create_pool"])
async def test_a_database_that_does_not_exist_is_named_with_how_to_make_it(
    server_url: str, opener: Callable[[str], Awaitable[object]]
) -> None:
    url = _with(server_url, password="s3cret-in-the-url", database="no_such_db_here")
    with pytest.raises(CannotOpenDatabase) as raised:
        await opener(url)
    message = str(raised.value)
    assert 'database "no_such_db_here" does not exist' in message
    assert "createdb no_such_db_here" in message
    assert f":{urlsplit(url).port}/no_such_db_here" in message
    assert "s3cret" not in message
    assert isinstance(raised.value, ConnectionError)  # still "unreachable" to older handlers


async def test_an_unknown_role_is_a_refused_login(server_url: str) -> None:
    with pytest.raises(CannotOpenDatabase, match='refused the login: role "no_such_role"'):
        await connect(_with(server_url, user="no_such_role"))


@pytest.mark.parametrize("opener", OPENERS, ids=["connect", "create_pool"])
async def test_nothing_listening_is_said_as_such(
    opener: Callable[[str], Awaitable[object]],
) -> None:
    port = free_port()
    url = f"postgresql://postgres@127.0.0.1:{port}/test"
    with pytest.raises(CannotOpenDatabase) as raised:
        await opener(url)
    assert str(raised.value) == (
        f"cannot reach PostgreSQL at postgres@127.0.0.1:{port}/test: connection refused"
        " (is it running there?)"
    )


@pytest.mark.parametrize(
    "url", ["postgresql://postgres@127.0.0.1:notaport/test", "mysql://postgres@127.0.0.1/test"]
)
async def test_a_url_that_cannot_be_used_says_what_one_looks_like(url: str) -> None:
    with pytest.raises(CannotOpenDatabase, match="postgresql://user:password@host:5432/database"):
        await connect(url)


async def test_the_server_opens_as_before(server_url: str) -> None:
    conn = await connect(server_url)
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://me:pw@db.example:6543/prices", "me@db.example:6543/prices"),
        ("postgresql://db.example/prices", "db.example:5432/prices"),
        ("postgresql:///prices", "localhost:5432/prices"),
        ("postgresql:///prices?host=/run/postgresql", "/run/postgresql:5432/prices"),
        ("postgresql://h:notaport/x", "(a URL that does not parse)"),
    ],
)
def test_the_url_is_shown_without_its_password(url: str, shown: str) -> None:
    assert where(url) == shown


async def test_an_unknown_host_is_said_as_such() -> None:
    with pytest.raises(CannotOpenDatabase) as raised:
        await connect("postgresql://postgres@no-such-host.invalid:5432/test")
    assert str(raised.value).startswith(
        "cannot reach PostgreSQL at postgres@no-such-host.invalid:5432/test: unknown host"
    )


async def test_a_server_that_never_answers_is_given_up_on_in_time() -> None:
    """Something accepts the connection (the kernel's backlog) and never speaks PostgreSQL."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        with pytest.raises(CannotOpenDatabase) as raised:
            await connect(f"postgresql://postgres@127.0.0.1:{port}/test", connect_timeout=0.5)
    assert str(raised.value) == (
        f"cannot reach PostgreSQL at postgres@127.0.0.1:{port}/test: no answer in time"
    )
