"""API keys in the database: issued once, stored as digests, revocable; usage written in batches."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any, cast

import asyncpg
import pytest

from domain.access import Principal, Scope
from domain.errors import NotFound
from storage import api_keys
from storage.api_keys import AUDIT_COPY_ROWS
from storage.usage import UsageRecorder
from tests.support.databases import Database
from tests.support.time import FakeTime

NOON = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)


async def test_a_new_key_is_random_shown_once_and_verifies_to_its_principal(
    portable_db: Database,
) -> None:
    record, raw = await api_keys.create_key(
        portable_db.pool, "ci", [Scope.READ, Scope.FETCH], rate_limit_per_minute=120
    )
    _, other = await api_keys.create_key(portable_db.pool, "other", [Scope.READ])

    assert raw.startswith("mg_") and len(raw) == 3 + 43 and raw != other
    assert record.name == "ci" and record.active and record.request_count == 0
    assert record.scopes == {Scope.READ, Scope.FETCH} and record.last_used is None
    assert record.key_preview == f"{raw[:7]}…{raw[-4:]}"
    assert await api_keys.verify(portable_db.pool, raw) == Principal(
        record.id, "ci", frozenset({Scope.READ, Scope.FETCH}), 120.0
    )


async def test_only_a_digest_is_stored_never_the_key(portable_db: Database) -> None:
    record, raw = await api_keys.create_key(portable_db.pool, "ci", [Scope.ADMIN])

    rows = await portable_db.pool.fetch("SELECT to_jsonb(k)::text AS row FROM api_keys k")
    stored_hash = await portable_db.pool.fetchval(
        "SELECT key_hash FROM api_keys WHERE id = $1", record.id
    )

    assert len(rows) == 1
    assert raw not in rows[0]["row"] and raw[3:] not in rows[0]["row"]
    assert stored_hash == hashlib.sha256(raw.encode()).hexdigest()


async def test_unknown_malformed_and_altered_keys_verify_to_nothing(portable_db: Database) -> None:
    _, raw = await api_keys.create_key(portable_db.pool, "ci")
    altered = raw[:-1] + ("A" if raw[-1] != "A" else "B")

    for candidate in ("", "mg_", "not-a-key", raw + "x" * 200, altered, api_keys.generate_key()):
        assert await api_keys.verify(portable_db.pool, candidate) is None


async def test_revoke_restore_and_delete(portable_db: Database) -> None:
    pool = portable_db.pool
    record, raw = await api_keys.create_key(pool, "ci")

    revoked = await api_keys.set_active(pool, record.id, False)
    assert not revoked.active and await api_keys.verify(pool, raw) is None
    assert [k.id for k in await api_keys.list_keys(pool)] == [record.id]
    assert await api_keys.list_keys(pool, active_only=True) == []

    await api_keys.set_active(pool, record.id, True)
    assert await api_keys.verify(pool, raw) is not None

    await api_keys.delete_key(pool, record.id)
    assert await api_keys.verify(pool, raw) is None
    with pytest.raises(NotFound):
        await api_keys.get_key(pool, record.id)
    with pytest.raises(NotFound):
        await api_keys.set_active(pool, record.id, True)
    with pytest.raises(NotFound):
        await api_keys.delete_key(pool, record.id)


async def test_a_key_stops_verifying_when_it_expires(portable_db: Database) -> None:
    pool = portable_db.pool
    _, lapsed = await api_keys.create_key(pool, "old", expires_at=NOON - timedelta(seconds=1))
    record, current = await api_keys.create_key(pool, "new", expires_at=NOON + timedelta(hours=1))

    assert await api_keys.verify(pool, lapsed) is None
    principal = await api_keys.verify(pool, current, now=NOON)
    assert principal is not None and principal.expires_at == record.expires_at
    assert await api_keys.verify(pool, current, now=NOON + timedelta(hours=1)) is None


def test_admin_implies_fetch_and_fetch_implies_read() -> None:
    def can(*scopes: Scope) -> set[Scope]:
        principal = Principal(1, "k", frozenset(scopes))
        return {s for s in Scope if principal.has(s)}

    assert can(Scope.READ) == {Scope.READ}
    assert can(Scope.FETCH) == {Scope.READ, Scope.FETCH}
    assert can(Scope.ADMIN) == set(Scope)


async def _counters(pool: asyncpg.Pool, key_id: int) -> tuple[int, datetime | None, int]:
    row = await pool.fetchrow(
        "SELECT request_count, last_used,"
        " (SELECT count(*) FROM api_key_audit WHERE key_id = $1) AS audit"
        " FROM api_keys WHERE id = $1",
        key_id,
    )
    assert row is not None
    return row["request_count"], row["last_used"], row["audit"]


async def test_usage_is_written_only_on_flush_in_one_batch(portable_db: Database) -> None:
    pool = portable_db.pool
    first, _ = await api_keys.create_key(pool, "first")
    second, _ = await api_keys.create_key(pool, "second")
    recorder = UsageRecorder(pool, now=lambda: NOON)
    for i in range(5):
        recorder.record(
            first.id,
            endpoint="/graphql",
            method="POST",
            status_code=200 if i < 4 else 429,
            duration_ms=1.5,
            at=NOON + timedelta(seconds=i),
        )
    recorder.record(
        second.id, endpoint="/api/v1/bars", method="GET", status_code=404, duration_ms=2
    )

    assert await _counters(pool, first.id) == (0, None, 0)  # nothing written per request

    result = await recorder.flush()

    assert (result.keys_updated, result.audit_written) == (2, 6)
    assert await _counters(pool, first.id) == (5, NOON + timedelta(seconds=4), 5)
    assert await _counters(pool, second.id) == (1, NOON, 1)
    entries, total = await api_keys.audit_entries(pool, first.id, limit=2, offset=0)
    assert total == 5
    assert [(e.endpoint, e.method, e.status_code) for e in entries] == [
        ("/graphql", "POST", 429),
        ("/graphql", "POST", 200),
    ]
    assert entries[0].timestamp == NOON + timedelta(seconds=4)
    assert (await recorder.flush()).audit_written == 0  # nothing twice


async def test_flushers_of_several_workers_add_up(portable_db: Database) -> None:
    record, _ = await api_keys.create_key(portable_db.pool, "ci")
    workers = [UsageRecorder(portable_db.pool) for _ in range(3)]
    for n, worker in enumerate(workers, start=1):
        for _ in range(n):
            worker.record(record.id, endpoint="/", method="GET", status_code=200, duration_ms=1)

    for worker in workers:
        await worker.flush()

    assert (await api_keys.get_key(portable_db.pool, record.id)).request_count == 6


async def test_a_flush_writes_all_its_audit_rows_or_none(portable_db: Database) -> None:
    """Audit rows go in COPYs of AUDIT_COPY_ROWS, inside the flush's one transaction."""
    record, _ = await api_keys.create_key(portable_db.pool, "busy")
    recorder = UsageRecorder(portable_db.pool)

    def requests(count: int, status: int = 200) -> None:
        for i in range(count):
            recorder.record(record.id, endpoint=f"/{i}", method="GET", status_code=status,
                            duration_ms=1)  # fmt: skip

    for count in (AUDIT_COPY_ROWS, AUDIT_COPY_ROWS + 1):  # one COPY, then two
        requests(count)
        assert (await recorder.flush()).audit_written == count
    written = 2 * AUDIT_COPY_ROWS + 1
    assert (await api_keys.audit_entries(portable_db.pool, record.id))[1] == written
    requests(AUDIT_COPY_ROWS)
    requests(1, status=70_000)  # past smallint: the second COPY fails
    with pytest.raises(OverflowError):  # asyncpg's encoder refuses it
        await recorder.flush()
    assert (await api_keys.audit_entries(portable_db.pool, record.id))[1] == written
    assert recorder.pending == AUDIT_COPY_ROWS + 1  # kept for the next flush


class _FailingOnce:
    """A pool whose next `acquire()` fails, as when the database restarts."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.fail = True

    def acquire(self) -> Any:
        if self.fail:
            self.fail = False
            raise ConnectionRefusedError("database restarting")
        return self.pool.acquire()


async def test_a_failed_flush_keeps_its_batch_for_the_next(portable_db: Database) -> None:
    record, _ = await api_keys.create_key(portable_db.pool, "ci")
    recorder = UsageRecorder(cast(asyncpg.Pool, _FailingOnce(portable_db.pool)))
    recorder.record(record.id, endpoint="/a", method="GET", status_code=200, duration_ms=1)

    with pytest.raises(ConnectionRefusedError):
        await recorder.flush()
    recorder.record(record.id, endpoint="/b", method="GET", status_code=200, duration_ms=1)
    await recorder.flush()

    entries, total = await api_keys.audit_entries(portable_db.pool, record.id)
    assert total == 2 and {e.endpoint for e in entries} == {"/a", "/b"}
    assert (await api_keys.get_key(portable_db.pool, record.id)).request_count == 2


async def test_audit_older_than_retention_is_deleted_at_most_hourly(
    portable_db: Database,
) -> None:
    record, _ = await api_keys.create_key(portable_db.pool, "ci")
    time = FakeTime()
    recorder = UsageRecorder(
        portable_db.pool, audit_retention_days=30, clock=time.clock, now=lambda: NOON
    )

    def old(endpoint: str) -> None:
        recorder.record(
            record.id,
            endpoint=endpoint,
            method="GET",
            status_code=200,
            duration_ms=1,
            at=NOON - timedelta(days=31),
        )

    old("/ancient")
    await recorder.flush()  # written, then the first retention pass in the same transaction
    old("/old-but-pruned-less-than-an-hour-ago")
    recorder.record(record.id, endpoint="/now", method="GET", status_code=200, duration_ms=1)
    await recorder.flush()
    endpoints = {e.endpoint for e in (await api_keys.audit_entries(portable_db.pool, record.id))[0]}
    assert endpoints == {"/old-but-pruned-less-than-an-hour-ago", "/now"}

    time.advance(3600)
    assert (await recorder.flush()).audit_deleted == 1
    _, total = await api_keys.audit_entries(portable_db.pool, record.id)
    assert total == 1


async def test_running_flushes_every_interval_and_once_more_on_exit(portable_db: Database) -> None:
    record, _ = await api_keys.create_key(portable_db.pool, "ci")
    intervals: asyncio.Queue[None] = asyncio.Queue()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:  # returns when the test lets an interval pass
        slept.append(seconds)
        await intervals.get()

    async def request_count() -> int:
        return (await api_keys.get_key(portable_db.pool, record.id)).request_count

    recorder = UsageRecorder(portable_db.pool, sleep=sleep)
    async with recorder.running(interval=5):
        recorder.record(record.id, endpoint="/", method="GET", status_code=200, duration_ms=1)
        await asyncio.sleep(0)
        assert await request_count() == 0  # nothing written per request
        intervals.put_nowait(None)  # one interval passes
        for _ in range(500):  # the flush lands while the recorder still runs
            if await request_count() == 1:
                break
            await asyncio.sleep(0.01)
        assert await request_count() == 1
        recorder.record(record.id, endpoint="/", method="GET", status_code=200, duration_ms=1)

    assert await request_count() == 2  # the rest, on exit
    assert slept[:2] == [5, 5]
