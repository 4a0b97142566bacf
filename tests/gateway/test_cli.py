"""The `marketgraph` command as a newcomer runs it, in a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from tests.fakes.polygon_server import FakePolygon, make_bars
from tests.support.databases import Database


def _run(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update(extra)
    return env


def test_migrate_without_database_url_uses_embedded_postgres_and_stops_it(tmp_path: Path) -> None:
    data_dir = tmp_path / "pgdata"
    result = _run("migrate", env=_env(EMBEDDED_DATA_DIR=str(data_dir)))
    assert result.returncode == 0, result.stderr
    assert "applied: 0001_base.sql" in result.stdout
    assert (data_dir / "PG_VERSION").exists()  # the data stays for the next run
    assert not (data_dir / "postmaster.pid").exists()  # ... and the server was stopped
    again = _run("migrate", env=_env(EMBEDDED_DATA_DIR=str(data_dir)))
    assert "already up to date" in again.stdout, again.stderr


async def test_demo_loads_deterministic_data_once(portable_db: Database) -> None:
    env = _env(DATABASE_URL=portable_db.url)
    first = _run("demo", env=env)
    assert first.returncode == 0, first.stderr
    assert "5 symbols" in first.stdout
    count = "SELECT count(*), sum(close) FROM bars"
    stored = await portable_db.pool.fetchrow(count)
    assert stored is not None and stored[0] > 10_000
    second = _run("demo", env=env)
    assert second.stdout == first.stdout
    assert await portable_db.pool.fetchrow(count) == stored  # same bars, nothing added
    hourly = await portable_db.pool.fetchval("SELECT count(*) FROM bars_1h WHERE symbol = 'AAPL'")
    assert hourly > 0


def test_unknown_command_fails_with_usage() -> None:
    result = _run("frobnicate", env=_env())
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


async def test_backfill_fetches_from_polygon_once_and_resumes(
    portable_db: Database, fake_polygon: FakePolygon
) -> None:
    fake_polygon.add_bars("X:BTCUSD", make_bars(datetime(2024, 1, 1, tzinfo=UTC), 60))
    env = _env(
        DATABASE_URL=portable_db.url,
        POLYGON_API_KEY=fake_polygon.api_key,
        POLYGON_BASE_URL=fake_polygon.url,
        POLYGON_REQUESTS_PER_MINUTE="0",
    )
    args = (
        "backfill",
        "X:BTCUSD",
        "--timeframe",
        "1d",
        "--from",
        "2024-01-01",
        "--to",
        "2024-03-01",
    )
    first = _run(*args, env=env)
    assert first.returncode == 0, first.stderr
    assert "stored 60 bars" in first.stdout
    stored = await portable_db.pool.fetchval("SELECT count(*) FROM bars WHERE symbol = 'X:BTCUSD'")
    assert stored == 60
    calls = fake_polygon.count("/v2/aggs")
    again = _run(*args, env=env)
    assert again.returncode == 0, again.stderr
    assert fake_polygon.count("/v2/aggs") == calls  # covered already: nothing fetched again


def test_backfill_without_a_key_says_what_to_set(portable_db: Database) -> None:
    env = _env(DATABASE_URL=portable_db.url, POLYGON_API_KEY="")
    result = _run("backfill", "AAPL", "--from", "2024-01-01", "--to", "2024-02-01", env=env)
    assert result.returncode == 1
    assert "POLYGON_API_KEY" in result.stderr


async def test_a_database_that_cannot_be_opened_is_one_line_not_a_traceback(
    portable_db: Database,
) -> None:
    parts = urlsplit(portable_db.url)
    missing = urlunsplit(
        parts._replace(netloc=f"postgres:pw-secret@{parts.hostname}:{parts.port}", path="/nope_db")
    )
    for command in (["migrate"], ["demo"], ["serve", "--port", "0"]):
        result = _run(*command, env=_env(DATABASE_URL=missing))
        assert result.returncode == 1, (command, result.stderr)
        assert result.stderr.splitlines() == [
            f"error: cannot open the database postgres@{parts.hostname}:{parts.port}/nope_db:"
            ' database "nope_db" does not exist; create it (`createdb nope_db`) or point the URL'
            " at a database that exists"
        ], command
        assert result.stdout == ""  # serve stops before it binds or prints its summary


def test_a_setting_that_is_not_valid_is_named_with_exit_2() -> None:
    result = _run("migrate", env=_env(PORT="eighty", DATABASE_URL="mysql://db/prices"))
    assert result.returncode == 2
    assert sorted(result.stderr.splitlines()) == [
        "error: invalid setting DATABASE_URL: must be a postgresql:// URL",
        "error: invalid setting PORT: Input should be a valid integer, unable to parse"
        " string as an integer",
    ]


@pytest.mark.parametrize(
    ("setting", "value", "said"),
    [
        ("DASHBOARD_DIR", "{tmp}", "error: DASHBOARD_DIR {tmp} has no index.html"),
        ("GRAPHIQL_ASSETS_DIR", "{tmp}", "error: GRAPHIQL_ASSETS_DIR {tmp} lacks react/umd/"),
        (
            "PERSISTED_QUERIES_FILE",
            "{tmp}/none.json",
            "error: PERSISTED_QUERIES_FILE: persisted-query manifest {tmp}/none",
        ),
        ("CORS_ORIGINS", "https://a.example", "error: invalid setting CORS_ORIGINS: not JSON ("),
    ],
)
def test_serve_says_a_setting_naming_what_is_not_there_in_one_line_before_binding(
    tmp_path: Path, setting: str, value: str, said: str
) -> None:
    unreachable = "postgresql://postgres@127.0.0.1:9/never"  # checked after the settings
    env = _env(DATABASE_URL=unreachable, **{setting: value.format(tmp=tmp_path)})
    result = _run("serve", "--port", "0", env=env)
    assert result.returncode == 2, result.stderr
    (line,) = result.stderr.splitlines()
    assert line.startswith(said.format(tmp=tmp_path))
    assert result.stdout == ""
