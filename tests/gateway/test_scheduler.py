"""The scheduler's schedule: cron syntax checked at start-up, ticks never repeated, its state."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from gateway.scheduler import BackfillScheduler
from gateway.settings import Settings


async def nothing(tick: datetime) -> None:
    return None


def test_a_bad_schedule_is_refused_at_start_up() -> None:
    with pytest.raises(ValidationError, match="not a cron expression"):
        Settings(_env_file=None, backfill_schedule="every hour")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="not a valid cron"):
        BackfillScheduler("61 * * * *", nothing)
    blank = Settings(_env_file=None, backfill_schedule=" ")  # type: ignore[call-arg]
    assert blank.backfill_schedule is None


def test_ticks_follow_the_schedule_seconds_last() -> None:
    scheduler = BackfillScheduler("* * * * * */2", nothing)
    start = datetime(2025, 1, 1, 0, 0, 1, tzinfo=UTC)
    assert scheduler.next_tick(start) == datetime(2025, 1, 1, 0, 0, 2, tzinfo=UTC)
    hourly = BackfillScheduler("0 * * * *", nothing)
    assert hourly.next_tick(start) == datetime(2025, 1, 1, 1, 0, tzinfo=UTC)


async def test_running_while_open_and_each_tick_once() -> None:
    ticks: list[datetime] = []
    done = asyncio.Event()

    async def record(tick: datetime) -> None:
        ticks.append(tick)
        if len(ticks) == 2:
            done.set()

    scheduler = BackfillScheduler("* * * * * *", record)
    before = scheduler.status
    async with scheduler.running_while():
        assert scheduler.running and scheduler.status == "running"
        await asyncio.wait_for(done.wait(), timeout=30)
    assert (before, scheduler.running) == ("stopped", False)
    assert len(set(ticks)) == len(ticks) and ticks == sorted(ticks)
    off = BackfillScheduler(None, record)
    async with off.running_while():
        assert off.status == "disabled" and not off.running
