"""The upstream budget in PostgreSQL: each reservation gets its own slot, whoever asks."""

from __future__ import annotations

import asyncio

import asyncpg

from storage.upstream_budget import release, reserve
from tests.support.databases import Database

MINUTE = 60.0  # one request a minute: no test waits for a slot, it only reads its wait


async def test_slots_follow_each_other_one_interval_apart(portable_db: Database) -> None:
    waits = [await reserve(portable_db.pool, "polygon", MINUTE, 1) for _ in range(3)]

    assert waits[0] == 0
    # the second waits almost a full interval, the third almost two (minus the time it took)
    assert MINUTE - 5 < waits[1] <= MINUTE
    assert 2 * MINUTE - 5 < waits[2] <= 2 * MINUTE


async def test_a_burst_goes_back_to_back_then_waits(portable_db: Database) -> None:
    waits = [await reserve(portable_db.pool, "polygon", MINUTE, 3) for _ in range(4)]
    assert waits[:3] == [0, 0, 0]
    assert MINUTE - 5 < waits[3] <= MINUTE


async def test_budgets_are_counted_apart(portable_db: Database) -> None:
    assert await reserve(portable_db.pool, "polygon", MINUTE, 1) == 0
    assert await reserve(portable_db.pool, "other", MINUTE, 1) == 0


async def test_concurrent_processes_never_share_a_slot(portable_db: Database) -> None:
    """Separate connections (as separate worker processes have) reserving at once."""
    conns = [await asyncpg.connect(portable_db.url) for _ in range(8)]
    try:
        waits = await asyncio.gather(*(reserve(c, "polygon", MINUTE, 1) for c in conns))
    finally:
        for conn in conns:
            await conn.close()
    slots = sorted(round(wait / MINUTE) for wait in waits)
    assert slots == list(range(8)), waits


async def test_a_released_reservation_shortens_the_queue_by_one(portable_db: Database) -> None:
    for _ in range(3):
        await reserve(portable_db.pool, "polygon", MINUTE, 1)
    await release(portable_db.pool, "polygon", MINUTE)
    # three reserved, one given back: the next waits two intervals, not three
    assert 2 * MINUTE - 5 < await reserve(portable_db.pool, "polygon", MINUTE, 1) <= 2 * MINUTE
