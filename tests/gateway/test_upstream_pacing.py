"""The gateway's Polygon pacer over PostgreSQL: waits its slot, gives it back when cancelled."""

from __future__ import annotations

import asyncio

import pytest

from gateway.upstream_pacing import BUDGET_NAME, SharedPacer
from storage.upstream_budget import reserve
from tests.support.databases import Database


class Sleeps:
    """Records the waits asked for; `cancel` makes a wait end as a cancelled request's does."""

    def __init__(self, cancel: bool = False) -> None:
        self.waits: list[float] = []
        self.cancel = cancel

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)
        if self.cancel:
            raise asyncio.CancelledError


async def test_two_pacers_share_one_budget(portable_db: Database) -> None:
    """Two pacers (two worker processes) at 5 a minute: the second waits about 12 s."""
    sleeps = Sleeps()
    a, b = (SharedPacer(portable_db.pool, 5, sleep=sleeps) for _ in "ab")
    await a.acquire()
    await b.acquire()
    assert len(sleeps.waits) == 1 and 7 < sleeps.waits[0] <= 12


async def test_a_cancelled_wait_gives_its_slot_back(portable_db: Database) -> None:
    pacer = SharedPacer(portable_db.pool, 1, sleep=Sleeps(cancel=True))
    await pacer.acquire()  # the first goes at once
    with pytest.raises(asyncio.CancelledError):
        await pacer.acquire()  # waits ~60 s, is cancelled
    # the cancelled one's minute went back: the next request waits one minute, not two
    assert 55 < await reserve(portable_db.pool, BUDGET_NAME, 60, 1) <= 60
