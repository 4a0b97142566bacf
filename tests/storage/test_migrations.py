"""Migrations: applied once each, recorded, and safe when several processes start together."""

from __future__ import annotations

import asyncio
import sys

import asyncpg

from storage.migrations import available_migrations, migrate
from tests.support import databases
from tests.support.databases import Database, Server, empty_database

_RUN = (
    "import asyncio, sys; from storage.migrations import migrate; asyncio.run(migrate(sys.argv[1]))"
)


async def _fresh_database(server: Server) -> tuple[str, str]:
    name = f"mg_fresh_{id(server) % 100000}_{len(asyncio.all_tasks())}"
    return name, await empty_database(server, name)


async def test_four_processes_migrating_at_once_apply_each_file_once(server: Server) -> None:
    name, url = await _fresh_database(server)
    try:
        procs = [
            await asyncio.create_subprocess_exec(
                sys.executable, "-c", _RUN, url, stderr=asyncio.subprocess.PIPE
            )
            for _ in range(4)
        ]
        results = await asyncio.gather(*(p.communicate() for p in procs))
        assert [p.returncode for p in procs] == [0] * 4, [err.decode() for _, err in results]
        conn = await asyncpg.connect(url)
        try:
            rows = await conn.fetch("SELECT filename FROM schema_migrations ORDER BY filename")
            backend = await conn.fetchval("SELECT value FROM mg_meta WHERE key = 'rollup_backend'")
        finally:
            await conn.close()
        applied = [r["filename"] for r in rows]
        assert backend in ("portable", "caggs")
        # every file meant for this database applied (each exactly once: the table's key),
        # and none meant for another backend
        hypertable = "0002_hypertable.timescaledb.sql" in applied
        expected = [
            m.filename
            for m in available_migrations()
            if m.tag is None or m.tag == backend or (m.tag == "timescaledb" and hypertable)
        ]
        assert applied == expected
        assert hypertable == (server.full_timescaledb or server.apache_timescaledb)
    finally:
        await databases.drop(server, name)


async def test_migrating_an_up_to_date_database_applies_nothing(
    portable_db: Database, server: Server
) -> None:
    # the same choice the template was made with (tests/support/databases.py)
    report = await migrate(portable_db.url, use_timescaledb=not server.full_timescaledb)
    assert report.applied == ()
    assert report.rollup_backend is portable_db.backend


def test_migration_files_are_ordered_and_tagged() -> None:
    names = [m.filename for m in available_migrations()]
    assert names == sorted(names) and names[0] == "0001_base.sql"
    tags = {m.tag for m in available_migrations()}
    assert tags <= {None, "timescaledb", "caggs", "portable"}
    caggs = next(m for m in available_migrations() if m.tag == "caggs")
    assert not caggs.transactional  # continuous aggregates cannot be created in a transaction
