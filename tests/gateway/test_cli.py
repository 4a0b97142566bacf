"""The `marketgraph` command as a newcomer runs it, in a real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.conftest import Database


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
    assert stored[0] > 10_000
    second = _run("demo", env=env)
    assert second.stdout == first.stdout
    assert await portable_db.pool.fetchrow(count) == stored  # same bars, nothing added
    hourly = await portable_db.pool.fetchval("SELECT count(*) FROM bars_1h WHERE symbol = 'AAPL'")
    assert hourly > 0


def test_unknown_command_fails_with_usage() -> None:
    result = _run("frobnicate", env=_env())
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
