"""One fake time for every test that moves time by hand: monotonic, wall clock and sleep.

Pass `clock=fake.clock` (intervals), `now=fake.wall` (UTC time of day) and `sleep=fake.sleep`;
`advance(seconds)` moves both clocks together, and `sleeps` records every requested wait so
tests assert spacing and backoff without waiting for real.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

EPOCH = datetime(2024, 1, 10, 12, tzinfo=UTC)


class FakeTime:
    """Monotonic seconds since `start` and the wall time `wall_start + elapsed`."""

    def __init__(self, start: float = 1_000.0, *, wall_start: datetime = EPOCH) -> None:
        self.now = start
        self._origin = start
        self._wall_start = wall_start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def wall(self) -> datetime:
        return self._wall_start + timedelta(seconds=self.now - self._origin)

    def set_wall(self, when: datetime) -> None:
        """Make `wall()` say `when` now (the monotonic clock keeps counting from here)."""
        self._wall_start, self._origin = when, self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)
