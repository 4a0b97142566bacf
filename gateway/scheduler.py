"""The backfill scheduler inside the gateway: wakes at each tick of `BACKFILL_SCHEDULE`.

Every worker process runs one; the service layer makes sure only one of them runs each tick
(resolvers/scheduled_backfill.py). The schedule is cron syntax parsed by croniter (five
fields, or six with seconds last); unset, the scheduler is off. A tick missed while a run was
still going is skipped, not queued.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Literal

from croniter import croniter

from domain.clocks import WallClock, utc_now
from domain.schedules import valid_schedule
from resolvers.context import Services
from resolvers.scheduled_backfill import run_tracked_backfill

if TYPE_CHECKING:
    from gateway.settings import Settings

log = logging.getLogger(__name__)

Run = Callable[[datetime], Awaitable[object]]


class BackfillScheduler:
    """Calls `run(tick)` at each tick of `schedule` (None: never) while `running()` is open."""

    def __init__(self, schedule: str | None, run: Run, *, now: WallClock = utc_now) -> None:
        if schedule is not None and not valid_schedule(schedule):
            raise ValueError(f"BACKFILL_SCHEDULE {schedule!r} is not a valid cron expression")
        self.schedule = schedule
        self._run = run
        self._now = now
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while the loop is alive (between start-up and shutdown, if scheduled)."""
        return self._task is not None and not self._task.done()

    @property
    def status(self) -> Literal["running", "stopped", "disabled"]:
        if self.schedule is None:
            return "disabled"
        return "running" if self.running else "stopped"

    def next_tick(self, after: datetime) -> datetime:
        if self.schedule is None:
            raise ValueError("no schedule")
        tick: datetime = croniter(self.schedule, after).get_next(datetime)
        return tick

    @contextlib.asynccontextmanager
    async def running_while(self) -> AsyncIterator[BackfillScheduler]:
        """Run the loop for the duration of the block (the app's lifespan)."""
        if self.schedule is not None:
            self._task = asyncio.create_task(self._loop(), name="backfill-scheduler")
            log.info("backfill scheduler started", extra={"schedule": self.schedule})
        try:
            yield self
        finally:
            if self._task is not None:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
                self._task = None

    async def _loop(self) -> None:
        last: datetime | None = None
        while True:  # until cancelled at shutdown
            now = self._now()
            # a sleep that ended a hair early must not give the same tick twice
            tick = self.next_tick(now if last is None else max(now, last))
            last = tick
            await asyncio.sleep(max(0.0, (tick - self._now()).total_seconds()))
            try:
                await self._run(tick)
            except Exception:  # one failed run must not stop the schedule
                log.exception("scheduled backfill run failed", extra={"tick": tick.isoformat()})


def backfill_scheduler(settings: Settings, services: Services) -> BackfillScheduler:
    """The scheduler of `BACKFILL_SCHEDULE`; off without a schedule or a Polygon key."""
    schedule = settings.backfill_schedule
    if schedule is not None and not services.fetch_on_miss:
        log.warning("BACKFILL_SCHEDULE is set but POLYGON_API_KEY is not: no scheduled backfill")
        schedule = None
    lookback = timedelta(days=settings.backfill_lookback_days)
    return BackfillScheduler(schedule, partial(run_tracked_backfill, services, lookback=lookback))
